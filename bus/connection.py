"""Connecting to NATS with the options from :class:`NatsSettings`, in one place."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import nats
import structlog

from .auth import is_credentials_file, load_credentials
from .errors import ConfigError, ConnectError

if TYPE_CHECKING:
    from nats.aio.client import Client

    from .settings import NatsSettings

log = structlog.get_logger("hookbus.bus.connection")

READ_BYTES = 256 * 1024
"""Bytes nats-py asks its socket for at a time (at least). Its default, 32 KB, splits one
hook request of 100-200 KB into several reads, each a turn of the event loop and a parser
call; reading it whole took a plugin about 0.6 us less CPU per item (7%), measured with
plugins of both kinds answering the same requests side by side. nats-py has no option
for it, so :func:`connect` raises the client module's default, for every client of the
process. A connection holds at most about twice this many unread bytes before it stops
reading the socket."""


def read_in_large_pieces() -> None:
    """Make nats-py read at least :data:`READ_BYTES` at a time (no effect if it already
    does, or if its client module no longer has that default)."""
    from nats.aio import client

    size = getattr(client, "DEFAULT_BUFFER_SIZE", None)
    if isinstance(size, int) and size < READ_BYTES:
        client.DEFAULT_BUFFER_SIZE = READ_BYTES


def connect_options(settings: NatsSettings, urls: list[str] | None = None) -> dict[str, Any]:
    """Keyword arguments for :func:`nats.connect` built from *settings*."""
    servers = urls or list(settings.urls)
    if not servers:
        raise ConfigError("no NATS server URL given")
    options: dict[str, Any] = {
        "servers": servers,
        "name": settings.name,
        "connect_timeout": settings.connect_timeout,
        "reconnect_time_wait": settings.reconnect_wait,
        "max_reconnect_attempts": settings.max_reconnect_attempts,
        "allow_reconnect": True,
    }
    if settings.user:
        options["user"] = settings.user
        options["password"] = settings.password or ""
    if settings.token:
        options["token"] = settings.token
    if settings.creds_file:
        if is_credentials_file(settings.creds_file):
            credentials = load_credentials(settings.creds_file)
            options["user"] = credentials.user
            options["password"] = credentials.password
            options["inbox_prefix"] = credentials.inbox_prefix
        else:
            options["user_credentials"] = settings.creds_file
    if settings.inbox_prefix:
        options["inbox_prefix"] = settings.inbox_prefix
    if settings.nkey_seed_file:
        options["nkeys_seed"] = settings.nkey_seed_file
    if settings.tls_ca or settings.tls_cert:
        try:
            context = ssl.create_default_context(cafile=settings.tls_ca)
            if settings.tls_cert:
                context.load_cert_chain(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load TLS files: {exc}") from exc
        options["tls"] = context
    return options


async def connect(settings: NatsSettings, urls: list[str] | None = None, **extra: Any) -> Client:
    """Connect to NATS; a server that cannot be reached is a :class:`ConnectError`."""
    options = connect_options(settings, urls)
    options.setdefault("error_cb", _log_error)
    options.setdefault("disconnected_cb", _log_disconnect)
    options.setdefault("reconnected_cb", _log_reconnect)
    options.update(extra)
    # The first connection gives up after a few attempts with a clear error;
    # once connected, reconnects go on as configured (forever by default).
    after = options["max_reconnect_attempts"]
    options["max_reconnect_attempts"] = max(1, settings.connect_attempts)
    read_in_large_pieces()
    # The errors of the first connection say why it failed (a refused identity, say),
    # where the exception at the end says only that no server was reached.
    first_errors: list[str] = []
    report = options["error_cb"]

    async def on_error(exc: Exception) -> None:
        if connecting:
            first_errors.append(str(exc))
        await report(exc)

    connecting = True
    options["error_cb"] = on_error
    try:
        nc = await nats.connect(**options)
    except Exception as exc:
        shown = ", ".join(options["servers"])
        reason = str(exc) or type(exc).__name__
        refused = any("authorization" in e.lower() for e in first_errors)
        if type(exc).__name__ == "NoServersError" and not refused:
            reason = f"no server answered after {settings.connect_attempts} attempts"
        elif refused or "authorization" in reason.lower():
            reason = (
                "the server refused these credentials (authorization violation): pass the "
                "credentials file of an identity it knows with --nats-creds / HOOKBUS_NATS_CREDS"
            )
        raise ConnectError(f"cannot connect to NATS at {shown}: {reason}") from exc
    finally:
        connecting = False
    nc.options["max_reconnect_attempts"] = after
    return nc


async def _log_error(exc: Exception) -> None:
    log.warning("NATS client error", error=str(exc) or type(exc).__name__)


async def _log_disconnect() -> None:
    log.warning("disconnected from NATS")


async def _log_reconnect() -> None:
    log.info("reconnected to NATS")
