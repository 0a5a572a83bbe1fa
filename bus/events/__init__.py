"""Notifications: CloudEvents on durable JetStream streams, published off the reconcile path.

The package in four modules:

- :mod:`.model`: :class:`CloudEvent`, :class:`EventGroup` and grouping, deterministic
  ids, and the constructors :func:`workflow_event`, :func:`node_event`,
  :func:`pod_event`, :func:`plugin_event`, :func:`progress_event`;
- :mod:`.streams`: the configurations of ``HOOKBUS_EVENTS`` and ``HOOKBUS_PROGRESS``
  and :func:`ensure_streams`;
- :mod:`.publisher`: :class:`EventPublisher`, which moves events to JetStream without
  making the controller wait;
- :mod:`.reader`: :func:`replay` (an :class:`EventReader`) and :func:`latest_progress`.

Every public name of those modules is importable from here.
"""

from __future__ import annotations

from .model import (
    BATCH_CONTENT_TYPE,
    CONTENT_TYPE,
    H_CONTENT_TYPE,
    H_EVENT_COUNT,
    H_ID,
    H_MSG_ID,
    H_SOURCE,
    H_SPECVERSION,
    H_SUBJECT,
    H_TIME,
    H_TYPE,
    NODE_FIELDS,
    PROGRESS_TYPE,
    SPEC_VERSION,
    TYPE_PREFIX,
    CloudEvent,
    EventGroup,
    event_id,
    events_from_message,
    group_events,
    node_event,
    now_rfc3339,
    plugin_event,
    pod_event,
    progress_event,
    verdict_type,
    workflow_event,
    workflow_source,
)
from .publisher import (
    YIELD_MIN_ITEMS,
    EventPublisher,
    PublisherClosedError,
    PublisherNotStartedError,
    PublisherStats,
    PublishRefusedError,
)
from .reader import EventReader, latest_progress, replay
from .streams import (
    StreamNotFoundError,
    ensure_streams,
    events_stream_config,
    progress_stream_config,
)

__all__ = [
    "BATCH_CONTENT_TYPE",
    "CONTENT_TYPE",
    "H_CONTENT_TYPE",
    "H_EVENT_COUNT",
    "H_ID",
    "H_MSG_ID",
    "H_SOURCE",
    "H_SPECVERSION",
    "H_SUBJECT",
    "H_TIME",
    "H_TYPE",
    "NODE_FIELDS",
    "PROGRESS_TYPE",
    "SPEC_VERSION",
    "TYPE_PREFIX",
    "YIELD_MIN_ITEMS",
    "CloudEvent",
    "EventGroup",
    "EventPublisher",
    "EventReader",
    "PublishRefusedError",
    "PublisherClosedError",
    "PublisherNotStartedError",
    "PublisherStats",
    "StreamNotFoundError",
    "ensure_streams",
    "event_id",
    "events_from_message",
    "events_stream_config",
    "group_events",
    "latest_progress",
    "node_event",
    "now_rfc3339",
    "plugin_event",
    "pod_event",
    "progress_event",
    "progress_stream_config",
    "replay",
    "verdict_type",
    "workflow_event",
    "workflow_source",
]
