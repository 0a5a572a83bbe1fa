"""The JetStream streams events live on: their configurations and their creation.

``HOOKBUS_EVENTS`` keeps every notification for ``max_age``; ``HOOKBUS_PROGRESS`` is a
last-value stream holding one progress message per workflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import structlog
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from .. import subjects
from ..errors import BusError, ConfigError

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

    from ..settings import EventSettings

log = structlog.get_logger("hookbus.bus.events")


# JetStream API error codes.
STREAM_EXISTS: Final = 10058  # stream name already in use with a different configuration
STREAM_NOT_FOUND: Final = 10059


class StreamNotFoundError(BusError, NotFoundError):
    """The events stream does not exist yet: no controller has created it on this NATS.

    Retrying after a controller started (or :func:`ensure_streams` ran) helps.
    Also a ``nats.js.errors.NotFoundError``, for callers that catch that.
    """

    retryable = True

    def __init__(self, message: str) -> None:
        NotFoundError.__init__(self, code=404, err_code=STREAM_NOT_FOUND, description=message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def events_stream_config(settings: EventSettings) -> StreamConfig:
    """Configuration of the ``HOOKBUS_EVENTS`` stream."""
    return StreamConfig(
        name=subjects.EVENTS_STREAM,
        description="hookbus notifications (CloudEvents)",
        subjects=[f"{subjects.EVENT_ROOT}.>"],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        max_age=settings.max_age,
        duplicate_window=settings.duplicate_window,
        num_replicas=settings.replicas,
        allow_atomic=True,  # harmless to publishers that send one by one; never switched off
    )


def progress_stream_config(settings: EventSettings) -> StreamConfig:
    """Configuration of the ``HOOKBUS_PROGRESS`` last-value stream (one message per workflow)."""
    return StreamConfig(
        name=subjects.PROGRESS_STREAM,
        description="hookbus workflow progress, latest value per workflow",
        subjects=[f"{subjects.PROGRESS_ROOT}.>"],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        max_msgs_per_subject=1,
        max_age=settings.max_age,
        duplicate_window=min(settings.duplicate_window, settings.max_age),
        num_replicas=settings.replicas,
    )


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
        return
    except APIError as exc:
        if exc.err_code != STREAM_EXISTS:
            raise
    # It exists with another configuration: bring it to ours. Two controllers
    # racing here both send the same configuration, so either order is fine.
    try:
        await js.update_stream(config)
    except APIError as exc:
        raise ConfigError(
            f"stream {config.name} exists with a configuration that cannot be updated "
            f"({exc.description}); fix or delete the stream, retrying will not help"
        ) from exc
    log.info("updated stream configuration", stream=config.name)


async def ensure_streams(js: JetStreamContext, settings: EventSettings) -> None:
    """Create or update the events and progress streams. Idempotent, safe under races."""
    if settings.duplicate_window > settings.max_age > 0:
        raise ConfigError(
            f"events duplicate_window ({settings.duplicate_window}s) must not exceed max_age ({settings.max_age}s)"
        )
    await _ensure_stream(js, events_stream_config(settings))
    await _ensure_stream(js, progress_stream_config(settings))


