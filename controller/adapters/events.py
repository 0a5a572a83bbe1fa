"""The engine's event sink implemented on the bus's :class:`EventPublisher`.

:class:`PublisherSink` turns the engine's notifications (``workflow_phase``,
``node_phases``, ``pod_created``, ``plugin_verdicts``, ``progress``) into CloudEvents and queues them on
an :class:`~hookbus.bus.events.EventPublisher`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ...bus import subjects
from ...bus.events import (
    H_MSG_ID,
    CloudEvent,
    EventPublisher,
    node_event,
    now_rfc3339,
    plugin_event,
    pod_event,
    workflow_event,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from nats.js.client import JetStreamContext

    from ..engine.hooks import Verdict


_FINAL = frozenset({"Succeeded", "Failed", "Error"})


class WorkflowRef(Protocol):
    """What :class:`PublisherSink` needs to know of a workflow (the engine's ``WorkflowInfo`` fits)."""

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def uid(self) -> str: ...


class PublisherSink:
    """The controller's event sink (``workflow_phase``, ``node_phases``, ``pod_created``,
    ``progress``) on top of an :class:`EventPublisher`.

    Each method only queues: it waits only while the publisher's queue is full.
    *js* lets :meth:`restored` look in the events stream for what was published.
    """

    def __init__(self, publisher: EventPublisher, *, js: JetStreamContext | None = None) -> None:
        self.publisher = publisher
        self.js = js

    async def restored(self, workflow: WorkflowRef, phase: str, message: str, nodes: Iterable[Mapping[str, Any]]) -> None:
        """After a restart: publish again the events the stored state implies (each node's
        phase, then the workflow's), with the ids they had, so JetStream drops the ones it
        has within its duplicate window. A finished workflow whose final event is in the
        stream is skipped (its events went out before it ended); a running one is always
        published again.
        """
        namespace, name, uid = workflow.namespace, workflow.name, workflow.uid
        final = workflow_event(namespace, name, uid, phase, message=message)
        if phase in _FINAL and await self._in_stream(final):
            return
        stamp = now_rfc3339()
        publisher = self.publisher
        for node in nodes:  # one by one: a group's id would not match the ids already stored
            event = node_event(namespace, name, uid, node, time=stamp)
            if not publisher.try_publish(event):
                await publisher.publish(event)
        await publisher.publish(final)

    async def _in_stream(self, event: CloudEvent) -> bool:
        """Whether *event* is the last one stored on its subject (``False`` when unsure)."""
        if self.js is None:
            return False
        try:
            stored = await self.js.get_last_msg(subjects.EVENTS_STREAM, event.subject)
        except Exception:  # not found, or NATS unavailable: publish (a duplicate id is dropped)
            return False
        return (stored.headers or {}).get(H_MSG_ID) == event.id

    async def workflow_phase(self, workflow: WorkflowRef, phase: str, message: str) -> None:
        """The workflow's phase changed."""
        await self.publisher.publish(
            workflow_event(workflow.namespace, workflow.name, workflow.uid, phase, message=message)
        )

    async def node_phases(self, workflow: WorkflowRef, nodes: Sequence[Mapping[str, Any]]) -> None:
        """Nodes whose phase changed in one scheduling pass (one ``ce-time``: the pass's)."""
        namespace, name, uid = workflow.namespace, workflow.name, workflow.uid
        stamp = now_rfc3339()
        await self.publisher.publish_many(node_event(namespace, name, uid, node, time=stamp) for node in nodes)

    async def pod_created(self, workflow: WorkflowRef, pods: Sequence[Mapping[str, Any]]) -> None:
        """Processes started in one pass, one pod event each.

        The controller sends each as ``{"node": "<node id>", "name": "<node name>",
        "image": "<main image>"}``; the event's pod name is then the node id. The form
        ``{"node": {"id", "name", "templateName", ...}, "pod": {"name", "image"}}`` is
        read as well.
        """
        stamp = now_rfc3339()
        await self.publisher.publish_many(self._pod_events(workflow, pods, stamp))

    @staticmethod
    def _pod_events(workflow: WorkflowRef, pods: Sequence[Mapping[str, Any]], stamp: str) -> Iterator[CloudEvent]:
        for item in pods:
            raw_node = item.get("node") or {}
            node: Mapping[str, Any] = raw_node if isinstance(raw_node, dict) else {"id": raw_node, "name": item.get("name")}
            pod: Mapping[str, Any] = item.get("pod") or {"image": item.get("image")}
            node_id = str(node.get("id", ""))
            yield pod_event(
                workflow.namespace,
                workflow.name,
                workflow.uid,
                node_id,
                str(pod.get("name") or node_id),
                node_name=node.get("name"),
                template_name=node.get("templateName"),
                image=pod.get("image"),
                time=stamp,
            )

    async def plugin_verdicts(self, workflow: WorkflowRef, verdicts: Sequence[Verdict]) -> None:
        """What plugins decided in one pass, in order, as ``plugin`` CloudEvents (deterministic ids)."""
        if not workflow.name:
            return
        for verdict in verdicts:
            event = plugin_event(
                workflow.namespace,
                workflow.name,
                workflow.uid,
                verdict.plugin,
                verdict.verdict,
                node_id=verdict.node_id,
                message=verdict.message,
                hook=verdict.hook,
            )
            if not self.publisher.try_publish(event):
                await self.publisher.publish(event)

    async def progress(self, workflow: WorkflowRef, done: int, total: int, phases: Mapping[str, int]) -> None:
        """Coalesced progress after a pass (never waits)."""
        self.publisher.publish_progress(
            workflow.namespace,
            workflow.name,
            {"uid": workflow.uid, "progress": f"{done}/{total}", "done": done, "total": total, "phases": dict(phases)},
        )


# --------------------------------------------------------------------------- reading

