"""The node model: Argo's node types, phases and the per-node status record."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..argo import types as argo

if TYPE_CHECKING:
    from collections.abc import Mapping

# Argo's NodePhase and NodeType (see :mod:`..argo.types`) under short names, as the plain
# strings the members stand for: node records stay plain data (YAML, msgpack) and the hot
# path compares and hashes exact ``str`` objects.
PENDING = argo.Phase.PENDING.value
RUNNING = argo.Phase.RUNNING.value
SUCCEEDED = argo.Phase.SUCCEEDED.value
FAILED = argo.Phase.FAILED.value
ERROR = argo.Phase.ERROR.value
SKIPPED = argo.Phase.SKIPPED.value
OMITTED = argo.Phase.OMITTED.value

POD = argo.NodeType.POD.value
CONTAINER = argo.NodeType.CONTAINER.value
STEPS = argo.NodeType.STEPS.value
STEP_GROUP = argo.NodeType.STEP_GROUP.value
DAG = argo.NodeType.DAG.value
TASK_GROUP = argo.NodeType.TASK_GROUP.value
RETRY = argo.NodeType.RETRY.value
SKIPPED_TYPE = argo.NodeType.SKIPPED.value
SUSPEND = argo.NodeType.SUSPEND.value
HTTP = argo.NodeType.HTTP.value
PLUGIN = argo.NodeType.PLUGIN.value

RETRIES_FIELD = "x-retries"
"""Workflow status field (kept out of ``get``, like every ``x-`` field): how often the
workflow was retried; part of its nodes' ``TaskSpec.attempt``."""

FULFILLED = frozenset(phase.value for phase in argo.FULFILLED)
"""Phases after which a node never changes again."""
UNSUCCESSFUL = frozenset(phase.value for phase in argo.UNSUCCESSFUL)
"""The phases that count as a failure for ``failFast``, retries and exit handlers."""

LEAF_TYPES = frozenset({POD, CONTAINER, HTTP, PLUGIN})
"""Types counted by ``progress`` (work that runs somewhere)."""


def timestamp(seconds: float | None) -> str | None:
    """RFC 3339 UTC timestamp with second precision, as Kubernetes writes them."""
    if seconds is None:
        return None
    return _timestamp(int(seconds))


@functools.lru_cache(maxsize=1024)
def _timestamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str | None) -> float | None:
    """Inverse of :func:`timestamp` (also accepts fractional seconds)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(slots=True, eq=False)
class Node:
    """One node of a workflow's status, mutable while the workflow runs.

    ``children`` and ``outbound_nodes`` hold node ids. ``extra`` keeps fields this
    engine does not interpret (preserved through persistence).
    """

    id: str
    name: str
    display_name: str
    type: str
    template_name: str
    phase: str
    boundary_id: str
    started_at: float | None
    finished_at: float | None = None
    message: str = ""
    children: list[str] = field(default_factory=list)
    outbound_nodes: list[str] = field(default_factory=list)
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    progress: str | None = None
    extra: dict[str, Any] | None = None
    log_path: str | None = None
    """Where the executor wrote the node's logs (kept across restarts, not shown in status)."""
    taken_over: bool = False
    """A plugin took the node over (``node.preExecute`` ``takeOver``): it runs outside the
    executor, so a restarted controller asks the plugins again instead of re-attaching it."""

    @property
    def fulfilled(self) -> bool:
        return self.phase in FULFILLED

    def leaf_progress(self) -> str:
        return "1/1" if self.phase == SUCCEEDED else "0/1"

    def to_dict(self) -> dict[str, Any]:
        """The Argo ``status.nodes[id]`` shape."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name,
            "type": self.type,
            "phase": self.phase,
        }
        if self.template_name:
            out["templateName"] = self.template_name
        if self.boundary_id:
            out["boundaryID"] = self.boundary_id
        if self.children:
            out["children"] = list(self.children)
        if self.outbound_nodes:
            out["outboundNodes"] = list(self.outbound_nodes)
        out["startedAt"] = timestamp(self.started_at)
        out["finishedAt"] = timestamp(self.finished_at)
        if self.message:
            out["message"] = self.message
        if self.type in LEAF_TYPES:
            out["progress"] = self.leaf_progress()
        elif self.progress:
            out["progress"] = self.progress
        if self.inputs:
            out["inputs"] = self.inputs
        if self.outputs:
            out["outputs"] = self.outputs
        if self.extra:
            for key, value in self.extra.items():
                out.setdefault(key, value)
        # Exact float times survive a restart (timestamps have second precision).
        hb: dict[str, Any] = {"startedAt": self.started_at, "finishedAt": self.finished_at}
        if self.log_path:
            hb["logPath"] = self.log_path
        if self.taken_over:
            hb["takenOver"] = True
        out["x-hookbus"] = hb
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        """Rebuild a node from :meth:`to_dict` output (as stored)."""
        known = {
            "id", "name", "displayName", "type", "templateName", "phase", "boundaryID",
            "children", "outboundNodes", "startedAt", "finishedAt", "message", "progress",
            "inputs", "outputs", "x-hookbus",
        }
        hb = data.get("x-hookbus") or {}
        started = hb.get("startedAt", parse_timestamp(data.get("startedAt")))
        finished = hb.get("finishedAt", parse_timestamp(data.get("finishedAt")))
        extra = {k: v for k, v in data.items() if k not in known} or None
        return cls(
            id=data["id"],
            name=data["name"],
            display_name=data.get("displayName", data["name"]),
            type=data["type"],
            template_name=data.get("templateName", ""),
            phase=data.get("phase", PENDING),
            boundary_id=data.get("boundaryID", ""),
            started_at=started,
            finished_at=finished,
            message=data.get("message", ""),
            children=list(data.get("children", ())),
            outbound_nodes=list(data.get("outboundNodes", ())),
            inputs=data.get("inputs"),
            outputs=data.get("outputs"),
            progress=data.get("progress") if data["type"] not in LEAF_TYPES else None,
            extra=extra,
            log_path=hb.get("logPath"),
            taken_over=bool(hb.get("takenOver", False)),
        )


def public_node(data: dict[str, Any]) -> dict[str, Any]:
    """A stored node dict without the engine's private fields (nor artifact contents or host paths)."""
    out = dict(data)
    out.pop("x-hookbus", None)
    for key in ("inputs", "outputs"):
        section = out.get(key)
        if section and section.get("artifacts"):
            out[key] = {
                **section,
                "artifacts": [{k: v for k, v in a.items() if not k.startswith("x-hookbus-")} for a in section["artifacts"]],
            }
    return out


CHILD_CHUNK = 4096
"""Children ids per stored record: a node with more (a 100k fan-out) keeps them in
extra ``<id>~c<k>`` records so no single record passes the NATS max payload."""


def storage_records(
    node: Node, data: dict[str, Any] | None = None, *, stored: Mapping[str, int] | None = None
) -> dict[str, dict[str, Any]]:
    """The store records of *node*: its dict, plus id-list chunks when it has many.

    ``children`` and ``outboundNodes`` longer than :data:`CHILD_CHUNK` go to records
    ``<id>~c<k>`` / ``<id>~o<k>`` so no single record passes the NATS max payload.
    *stored* maps ``children`` / ``outboundNodes`` to how many leading ids of that list
    are stored already and unchanged (the list was only appended to since): chunks made
    only of those are left out, so a fan-out that grows by a slice per pass writes the
    last chunks, not the whole list, each pass.
    """
    data = data if data is not None else node.to_dict()
    big = [
        (key, tag, ids)
        for key, tag, ids in (("children", "c", node.children), ("outboundNodes", "o", node.outbound_nodes))
        if len(ids) > CHILD_CHUNK
    ]
    if not big:
        return {node.id: data}
    main = dict(data)
    extra = dict(main.get("x-hookbus", {}))
    out: dict[str, dict[str, Any]] = {}
    for key, tag, ids in big:
        main.pop(key, None)
        extra[f"{key}Chunks"] = -(-len(ids) // CHILD_CHUNK)
        first = min((stored or {}).get(key, 0), len(ids)) // CHILD_CHUNK
        for k in range(first, extra[f"{key}Chunks"]):
            chunk_id = f"{node.id}~{tag}{k}"
            out[chunk_id] = {"id": chunk_id, "chunkOf": node.id, "ids": ids[k * CHILD_CHUNK : (k + 1) * CHILD_CHUNK]}
    main["x-hookbus"] = extra
    out[node.id] = main
    return out


def merge_records(records: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Inverse of :func:`storage_records` over a whole stored workflow."""
    nodes = {i: d for i, d in records.items() if "chunkOf" not in d}
    for node_id, data in list(nodes.items()):
        extra = data.get("x-hookbus") or {}
        merged = None
        for key, tag in (("children", "c"), ("outboundNodes", "o")):
            count = extra.get(f"{key}Chunks")
            if not count:
                continue
            ids: list[str] = []
            for k in range(int(count)):
                chunk = records.get(f"{node_id}~{tag}{k}")
                if chunk is not None:
                    ids.extend(chunk.get("ids") or [])
            merged = merged or dict(data)
            merged[key] = ids
        if merged is not None:
            nodes[node_id] = merged
    return nodes
