"""Record every workflow and node transition in a SQLite file, and stamp a lineage id.

    HOOKBUS_LINEAGE_DB=lineage.sqlite hookbus plugin run examples/plugins/lineage.py

- ``workflow.preUpdate``: adds the annotation ``lineage.hookbus.io/run-id`` (a stable id
  derived from the workflow uid) and records the workflow's phase;
- ``node.postExecute``: records each node's final phase and outputs.

Calls carry stable ids, so recording is idempotent (``INSERT OR REPLACE``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from typing import Any

from hookbus.bus import Plugin, merge_patch

plugin = Plugin("lineage", version="1.0.0", description="records lineage in SQLite")
RUN_ID = "lineage.hookbus.io/run-id"

_db: sqlite3.Connection | None = None
_lock = threading.Lock()
"""Blocking handlers run in worker threads: one connection, used under this lock."""


def db() -> sqlite3.Connection:
    global _db
    if _db is None:
        _db = sqlite3.connect(os.environ.get("HOOKBUS_LINEAGE_DB", "lineage.sqlite"), check_same_thread=False)
        _db.execute("CREATE TABLE IF NOT EXISTS workflows (uid TEXT PRIMARY KEY, name TEXT, run_id TEXT, phase TEXT)")
        _db.execute(
            "CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, workflow TEXT, name TEXT, phase TEXT, outputs TEXT)"
        )
    return _db


def run_id(uid: str) -> str:
    return "run-" + hashlib.sha256(uid.encode()).hexdigest()[:12]


@plugin.workflow_pre_update(blocking=True)
def stamp(workflow: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    meta = workflow.get("metadata", {})
    uid = meta.get("uid") or meta.get("name", "")
    rid = run_id(uid)
    phase = (workflow.get("status") or {}).get("phase", "")
    with _lock, db() as conn:
        conn.execute("INSERT OR REPLACE INTO workflows VALUES (?, ?, ?, ?)", (uid, meta.get("name"), rid, phase))
    return merge_patch({"metadata": {"annotations": {RUN_ID: rid}}})


@plugin.node_post_execute(blocking=True, batch=True)
def record(items: list[dict[str, Any]], workflow: dict[str, Any], **kwargs: Any) -> list[None]:
    name = workflow["metadata"]["name"]
    with _lock, db() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?, ?)",
            [
                (i["node"]["id"], name, i["node"].get("name"), i["node"].get("phase"), json.dumps(i["node"].get("outputs") or {}))
                for i in items
            ],
        )
    return [None] * len(items)
