"""Compressed hook requests: ``Content-Encoding: deflate`` (zlib, RFC 1950) on both sides.

The dispatcher compresses a request only for a plugin that lists :data:`~hookbus.bus.wire.DEFLATE`
in its manifest, and only when the request is larger than its size target: the items of
one pass (pods of one fan-out) are much alike and shrink 20-30 times, so a pass that would
take several requests takes one. Level 1 is used: on such payloads it compresses as well as
the higher levels at a third of their time.
"""

from __future__ import annotations

import zlib

from .errors import DecodeError
from .wire import MAX_INFLATED

LEVEL = 1


def deflate(*parts: bytes) -> bytes:
    """The zlib stream of *parts* put together (no copy of them joined)."""
    packer = zlib.compressobj(LEVEL)
    out = [packer.compress(part) for part in parts]
    out.append(packer.flush())
    return b"".join(out)


def inflate(data: bytes, *, subject: str = "", limit: int = MAX_INFLATED) -> bytes:
    """*data* inflated; :class:`DecodeError` when it is not a zlib stream or inflates past *limit* bytes."""
    unpacker = zlib.decompressobj()
    try:
        out = unpacker.decompress(data, limit)
    except zlib.error as exc:
        raise DecodeError(f"the deflate body does not inflate: {exc}", subject=subject, data=data[:64]) from None
    if unpacker.unconsumed_tail:
        raise DecodeError(f"the deflate body inflates past {limit} bytes", subject=subject, data=data[:64])
    if not unpacker.eof:
        raise DecodeError("the deflate body is cut short", subject=subject, data=data[:64])
    return out
