"""The engine's event sink implemented on the bus's :class:`EventPublisher`.

:class:`PublisherSink` turns the engine's notifications (``workflow_phase``,
``node_phases``, ``pod_created``, ``plugin_verdicts``, ``progress``) into CloudEvents and queues them on
an :class:`~hookbus.bus.events.EventPublisher`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ...bus.events import (
    CloudEvent,
    EventPublisher,
    node_event,
    now_rfc3339,
    plugin_event,
    pod_event,
    workflow_event,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from ..engine.hooks import Verdict


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
    """

    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher

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

