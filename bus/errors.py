"""Errors of the bus layer.

One root, :class:`BusError`. Each class says whether retrying can help
(``retryable``), and mixes in the matching builtin where one exists so that
callers may catch broadly (``except TimeoutError``).
"""

from __future__ import annotations


class BusError(Exception):
    """Root of every error raised by :mod:`hookbus.bus`."""

    retryable: bool = False


class ConfigError(BusError, ValueError):
    """A setting, manifest or name is invalid. Fix the input; retrying will not help."""


class ServerError(BusError, RuntimeError):
    """The embedded NATS server could not be found, started or stopped."""


class ConnectError(BusError, ConnectionError):
    """The NATS server could not be reached."""

    retryable = True


class DecodeError(BusError, ValueError):
    """A payload could not be decoded. Names the subject and shows a truncated preview."""

    def __init__(self, reason: str, *, subject: str = "", data: bytes = b"") -> None:
        self.reason = reason
        self.subject = subject
        self.preview = preview(data)
        where = f" on {subject!r}" if subject else ""
        super().__init__(f"cannot decode payload{where}: {reason} (payload {self.preview})")


class EncodeError(BusError, ValueError):
    """A value could not be encoded, or encodes larger than allowed."""


class PayloadTooLarge(EncodeError):
    """An encoded message is larger than the limit that applies to it."""

    def __init__(self, size: int, limit: int, what: str = "payload") -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"{what} is {size} bytes, over the limit of {limit} bytes")


def preview(data: bytes, limit: int = 64) -> str:
    """A short, log-safe description of a payload: its size and first bytes in hex."""
    head = data[:limit].hex()
    more = "..." if len(data) > limit else ""
    return f"{len(data)} bytes: {head}{more}"
