"""``parameters.resolve`` end to end: the vault plugin process, the controller, the local executor.

A secret value must reach the process (env and args) and nothing else: not the
workflow's status, not the events stream, not the node's log files, not the
controller's (or the plugin's) log lines. An unknown placeholder namespace fails
the node with an error naming it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

from hookbus.bus.events import CloudEvent, replay
from hookbus.controller.adapters.store import WorkflowKey
from tests.support.hookstack import Stack, make_stack
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(nats_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    s = await make_stack(nats_url, tmp_path / "state", executor="local")
    yield s
    await s.close()


def key_of(workflow: dict[str, Any]) -> WorkflowKey:
    return WorkflowKey(workflow["metadata"]["namespace"], workflow["metadata"]["name"])


def node(workflow: dict[str, Any], display_name: str) -> dict[str, Any]:
    return next(n for n in workflow["status"]["nodes"].values() if n["displayName"] == display_name)


def output(node: dict[str, Any], name: str) -> str:
    return str(next(p["value"] for p in node["outputs"]["parameters"] if p["name"] == name)).strip()


async def settled_events(stack: Stack, workflow: dict[str, Any]) -> list[CloudEvent]:
    """Every event of *workflow*, once its final workflow event reached the stream."""
    name, phase = workflow["metadata"]["name"], workflow["status"]["phase"].lower()
    found: list[CloudEvent] = []

    async def final_seen() -> bool:
        async with replay(stack.nc.jetstream(), workflow=name) as reader:
            found[:] = [event async for event in reader]
        return any(e.type == f"io.hookbus.workflow.{phase}" for e in found)

    await wait_for(final_seen, timeout=15, interval=0.1, what=f"the {phase} event of {name}")
    return found


SECRET_TO_PROCESS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: vault-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: pw, value: "{{vault.db-password}}"}]}
  templates:
    - name: main
      inputs: {parameters: [{name: pw}]}
      container:
        image: alpine
        command: [sh, -c]
        args:
          - 'printf %s "$PW" | sha256sum | cut -c1-64 > /tmp/env-sum; printf %s "$1" | sha256sum | cut -c1-64 > /tmp/arg-sum; echo hashed'
          - sh
          - "{{inputs.parameters.pw}}"
        env: [{name: PW, value: "{{vault.db-password}}"}]
      outputs:
        parameters:
          - {name: env-sum, valueFrom: {path: /tmp/env-sum}}
          - {name: arg-sum, valueFrom: {path: /tmp/arg-sum}}
"""


async def test_a_secret_reaches_the_process_and_nothing_else(
    stack: Stack, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cr3t-" + secrets.token_hex(8)
    await stack.plugin("vault", "vault.py", {"VAULT_DB_PASSWORD": secret})
    done = await stack.run(SECRET_TO_PROCESS)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    main = node(done, done["metadata"]["name"])
    digest = hashlib.sha256(secret.encode()).hexdigest()
    # The process saw the value in its environment and in its arguments.
    assert output(main, "env-sum") == digest
    assert output(main, "arg-sum") == digest
    assert main["outputs"]["result"].strip() == "hashed"

    key = key_of(done)
    assert secret not in json.dumps(stack.controller.get(key))
    events = await settled_events(stack, done)
    assert events, "the workflow published no events"
    assert all(secret not in json.dumps(e.data) and secret not in e.subject for e in events)
    log_path = stack.controller.log_path(key, main["id"])
    assert log_path is not None and log_path.exists()
    for path in log_path.parent.rglob("*.log"):
        assert secret not in path.read_text(errors="replace"), path.name
    captured = capfd.readouterr()
    assert "workflow submitted" in captured.out + captured.err  # the controller's log lines were captured
    assert secret not in captured.out and secret not in captured.err


PRINTED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: printed-}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: region, template: region}
          - {name: leak, template: leak}
    - name: region
      container: {image: alpine, command: [echo, "{{vault.region}}"]}
    - name: leak
      container: {image: alpine, command: [sh, -c, "echo password={{vault.db-password}}"]}
"""


async def test_a_plain_value_shows_and_a_printed_secret_is_redacted_from_status(stack: Stack, tmp_path: Path) -> None:
    secret = "s3cr3t-" + secrets.token_hex(8)
    await stack.plugin(
        "vault", "vault.py", {"VAULT_DB_PASSWORD": secret, "VAULT_REGION": "eu-west-7", "VAULT_PUBLIC_KEYS": "region"}
    )
    db = tmp_path / "lineage.sqlite"  # a node.postExecute plugin that stores every node's outputs
    await stack.plugin("lineage", "lineage.py", {"HOOKBUS_LINEAGE_DB": str(db)})
    done = await stack.run(PRINTED)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    # Not secret: substituted and shown like any value.
    assert node(done, "region")["outputs"]["result"].strip() == "eu-west-7"
    # Secret, and the process printed it: the status shows it redacted.
    assert node(done, "leak")["outputs"]["result"].strip() == "password=[redacted]"
    assert secret not in json.dumps(stack.controller.get(key_of(done)))
    events = await settled_events(stack, done)
    assert all(secret not in json.dumps(e.data) for e in events)
    # node.postExecute plugins are shown the redacted outputs too.
    stored = dict(sqlite3.connect(db).execute("SELECT name, outputs FROM nodes").fetchall())
    leak = next(outputs for name, outputs in stored.items() if name.endswith(".leak"))
    assert "password=[redacted]" in leak and secret not in json.dumps(stored)


UNKNOWN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: unknown-}
spec:
  entrypoint: main
  templates:
    - name: main
      container: {image: alpine, command: [sh, -c, "echo {{PLACEHOLDER}}"]}
"""


@pytest.mark.parametrize(
    ("placeholder", "scope"), [("nosuch.x", "nosuch"), ("vault.not-in-the-vault", "vault")], ids=["unknown-namespace", "unknown-key"]
)
async def test_a_placeholder_no_plugin_resolves_fails_the_node_naming_it(
    stack: Stack, placeholder: str, scope: str
) -> None:
    await stack.plugin("vault", "vault.py", {"VAULT_DB_PASSWORD": "x"})
    done = await stack.run(UNKNOWN.replace("PLACEHOLDER", placeholder))
    assert done["status"]["phase"] in ("Failed", "Error")
    main = node(done, done["metadata"]["name"])
    assert main["phase"] == "Error"
    assert "{{" + placeholder + "}}" in main["message"] and f"'{scope}'" in main["message"]
    # The process never ran: no exit code, no log.
    assert "exitCode" not in (main.get("outputs") or {})
    assert stack.controller.log_path(key_of(done), main["id"]) is None


async def test_the_same_process_runs_when_its_placeholder_resolves(stack: Stack) -> None:
    """The control for the test above: a process that ran has an exit code and a log."""
    await stack.plugin("vault", "vault.py", {"VAULT_REGION": "eu-west-7", "VAULT_PUBLIC_KEYS": "region"})
    done = await stack.run(UNKNOWN.replace("PLACEHOLDER", "vault.region"))
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    main = node(done, done["metadata"]["name"])
    assert main["outputs"]["exitCode"] == "0" and main["outputs"]["result"].strip() == "eu-west-7"
    assert stack.controller.log_path(key_of(done), main["id"]) is not None


async def test_a_resolving_plugin_that_is_down_errors_the_node_naming_plugin_and_hook(stack: Stack) -> None:
    from hookbus.bus import Plugin
    from hookbus.bus.registry import Registration
    from hookbus.bus.testing import wait_registered

    down = Plugin("sealed-vault")

    @down.parameters_resolve(scopes=["sealed"], failure_policy="Fail", timeout=0.5)
    def never(**kwargs: Any) -> None:
        return None

    # Registered, but nobody serves: every call meets "no responders".
    registration = Registration(stack.nc.jetstream(), down.manifest)
    await registration.start()
    try:
        await wait_registered(stack.registry, "sealed-vault")
        done = await stack.run(UNKNOWN.replace("PLACEHOLDER", "sealed.token"))
    finally:
        await registration.stop()
    main = node(done, done["metadata"]["name"])
    assert main["phase"] == "Error"
    assert "'sealed-vault'" in main["message"] and "parameters.resolve" in main["message"], main["message"]
    assert "exitCode" not in (main.get("outputs") or {})
