"""Controller settings: one frozen dataclass, filled in one place (CLI flags, environment)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .http_guard import Network, parse_networks

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class ControllerSettings:
    """Everything the workflow engine needs to know, passed explicitly."""

    executor: str = "local"
    """Executor name for ``make_executor`` when no executor object is given: ``local`` or ``simulate``."""

    state_dir: Path | None = None
    """Where executors keep per-node state (logs, output files). ``None``: a temporary directory."""

    max_workflows: int = 100
    """How many workflows are operated on at the same time (one serial worker each)."""

    namespace: str = "default"
    """Namespace given to submitted workflows that do not name one."""

    max_running_nodes: int = 64
    """Upper bound on executor tasks running at once in one workflow (before ``parallelism``)."""

    start_concurrency: int = 1
    """Executor starts of one scheduling pass in flight at once (each node is recorded as
    started just before its own start). ``HookbusSettings`` fills it from
    ``ExecutorSettings.start_concurrency``."""

    max_nodes_per_pass: int = 10
    """Upper bound on the node work of one scheduling pass while other workflows have work
    too (events waiting, or a pass within :attr:`shared_linger` seconds): executor results
    applied, and children one group starts. Keeps passes short (a few milliseconds), so a
    huge fan-out never holds the event loop long while other workflows wait; it then sends
    plugins 10 nodes per request."""

    max_nodes_per_pass_alone: int = 2_000
    """The same bound while no other workflow has work (workflows that only wait for their
    pods, a timer or a resume do not count): larger passes carry more nodes per hook call
    (fewer, bigger plugin requests), but a workflow whose wait ends meanwhile, or one
    submitted meanwhile, waits for the pass under way once (about half a second for 2,000
    nodes with 5 plugins on a slow machine)."""

    shared_linger: float = 1.0
    """Seconds passes stay at :attr:`max_nodes_per_pass` after another workflow last had a
    pass: where workflows are busy one after another, or one ends and the next is about to
    be submitted, a large pass would be under way just when they need the loop."""

    store_retry_seconds: float = 1.0
    """Delay before writing again after the store reported a retryable error."""

    allowed_host_paths: tuple[str, ...] = ()
    """Host directories (and what is below them) ``hostPath`` volumes may mount; none by
    default: a ``hostPath`` volume fails its node. The controller's state directory is never
    allowed. ``--allow-host-path`` (repeatable), ``HOOKBUS_ALLOW_HOST_PATHS`` (``:``-separated)."""

    http_allow: tuple[str, ...] = ()
    """Addresses or CIDR networks ``http`` templates may reach although they are loopback,
    link-local (cloud metadata included), unspecified or multicast (see
    :mod:`~hookbus.controller.engine.http_guard`). ``--http-allow`` (repeatable),
    ``HOOKBUS_HTTP_ALLOW`` (``,``-separated)."""

    @functools.cached_property
    def http_allow_networks(self) -> tuple[Network, ...]:
        """:attr:`http_allow` parsed (``ValueError`` naming a malformed entry)."""
        return parse_networks(self.http_allow)

    resource_poll_seconds: float = 5.0
    """How often a ``resource`` template with ``successCondition``/``failureCondition`` reads
    its object again until one holds (Kubernetes mode)."""

    pod_deleted_message: str = "pod deleted"
    """Message given to a node whose process was lost when the controller stopped (as Argo does)."""
