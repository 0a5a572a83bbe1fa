"""The one place payloads are encoded and decoded.

msgpack (through ormsgpack, measured about twice as fast as msgpack-python on
our records) is the default; JSON is there for plugins that ask for it in their
manifest, so that a plugin can be a shell script. Every failure is a typed
:class:`DecodeError` / :class:`EncodeError`, never a library exception.

Large payloads decode with the cyclic garbage collector paused: decoding a
batch allocates thousands of dicts and lists at once, each of which would
otherwise count towards a collection that walks every young object again,
which measured about three times slower than the decode itself. Decoded
payloads hold no reference cycles, so pausing loses nothing.

:class:`ListEnvelope` builds a message whose last field is a list from
elements encoded once, so that one batch of items can go to several plugins
(each with its own envelope) without being encoded again.
"""

from __future__ import annotations

import enum
import gc
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

import ormsgpack

from .errors import DecodeError, EncodeError, PayloadTooLarge


class Encoding(enum.StrEnum):
    MSGPACK = "msgpack"
    JSON = "json"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self]


CONTENT_TYPES = {Encoding.MSGPACK: "application/msgpack", Encoding.JSON: "application/json"}
_BY_CONTENT_TYPE = {v: k for k, v in CONTENT_TYPES.items()}

_PACK_OPTS = ormsgpack.OPT_NON_STR_KEYS

QUIET_GC_BYTES = 16 * 1024
"""Payloads at least this large decode with the cyclic garbage collector paused."""


def parse_encoding(value: str) -> Encoding:
    """The encoding named *value* (``msgpack``/``json`` or a content type)."""
    if value in _BY_CONTENT_TYPE:
        return _BY_CONTENT_TYPE[value]
    try:
        return Encoding(value)
    except ValueError:
        raise EncodeError(f"unknown encoding {value!r}; use 'msgpack' or 'json'") from None


def encode(value: Any, encoding: Encoding = Encoding.MSGPACK, *, limit: int | None = None) -> bytes:
    """Encode *value*; raise :class:`PayloadTooLarge` if the result exceeds *limit* bytes."""
    try:
        if encoding is Encoding.MSGPACK:
            data = ormsgpack.packb(value, option=_PACK_OPTS)
        else:
            data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError, ormsgpack.MsgpackEncodeError) as exc:
        raise EncodeError(f"cannot encode value as {encoding}: {exc}") from exc
    if limit is not None and len(data) > limit:
        raise PayloadTooLarge(len(data), limit)
    return data


def decode(
    data: bytes,
    encoding: Encoding = Encoding.MSGPACK,
    *,
    subject: str = "",
    limit: int | None = None,
) -> Any:
    """Decode *data*; any failure is a :class:`DecodeError` naming *subject*."""
    if limit is not None and len(data) > limit:
        raise DecodeError(f"payload of {len(data)} bytes is over the limit of {limit}", subject=subject, data=data)
    if not data:
        raise DecodeError("empty payload", subject=subject, data=data)
    pause = len(data) >= QUIET_GC_BYTES and gc.isenabled()
    if pause:
        gc.disable()
    try:
        if encoding is Encoding.MSGPACK:
            return _unpack(data)
        return json.loads(data)
    except (ValueError, TypeError, ormsgpack.MsgpackDecodeError) as exc:
        raise DecodeError(f"invalid {encoding}: {exc}", subject=subject, data=data) from exc
    finally:
        if pause:
            gc.enable()


def _unpack(data: bytes) -> Any:
    """msgpack *data* decoded; maps with keys other than strings are allowed.

    Decoding that allows them is about 7% slower for every map, and the maps of the
    protocol have string keys, so a payload is decoded without that first and again
    with it only if a key was not a string.
    """
    try:
        return ormsgpack.unpackb(data)
    except (ValueError, TypeError):
        return ormsgpack.unpackb(data, option=_PACK_OPTS)


def decode_map(
    data: bytes,
    encoding: Encoding = Encoding.MSGPACK,
    *,
    subject: str = "",
    limit: int | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """Decode a message that must be a map; check its ``v`` field when *version* is given."""
    value = decode(data, encoding, subject=subject, limit=limit)
    if not isinstance(value, dict):
        raise DecodeError(f"expected a map, got {type(value).__name__}", subject=subject, data=data)
    if version is not None and value.get("v") != version:
        raise DecodeError(
            f"protocol version {value.get('v')!r} is not supported (expected {version})",
            subject=subject,
            data=data,
        )
    return value


_MSGPACK_NIL = b"\xc0"
_JSON_NULL_END = b"null}"


@dataclass(frozen=True, slots=True)
class ListEnvelope:
    """A map whose last field is a list, ready to be filled with already-encoded elements.

    ``ListEnvelope.of({"v": 1, "plugin": "p"}, "items", encoding).wrap(encode(items, encoding))``
    gives the same bytes as ``encode({"v": 1, "plugin": "p", "items": items}, encoding)``.
    """

    prefix: bytes
    suffix: bytes
    encoding: Encoding

    @classmethod
    def of(cls, head: Mapping[str, Any], key: str, encoding: Encoding = Encoding.MSGPACK) -> ListEnvelope:
        """The envelope ``{**head, key: <list>}``; *key* must not be in *head*."""
        if key in head:
            raise EncodeError(f"envelope already has a field {key!r}")
        data = encode({**head, key: None}, encoding)
        # The list field is last (dicts keep insertion order), so its nil/null
        # value sits at the very end and the encoded list can take its place.
        if encoding is Encoding.MSGPACK:
            if not data.endswith(_MSGPACK_NIL):
                raise EncodeError(f"cannot build an envelope for {key!r}: unexpected msgpack layout")
            return cls(data[: -len(_MSGPACK_NIL)], b"", encoding)
        if not data.endswith(_JSON_NULL_END):
            raise EncodeError(f"cannot build an envelope for {key!r}: unexpected JSON layout")
        return cls(data[: -len(_JSON_NULL_END)], b"}", encoding)

    def wrap(self, encoded_list: bytes) -> bytes:
        """The whole message, with *encoded_list* (``encode(a_list, encoding)``) as the list field."""
        return b"".join((self.prefix, encoded_list, self.suffix))

    def size(self, encoded_list_size: int) -> int:
        """Bytes of the whole message for a list that encodes to *encoded_list_size* bytes."""
        return len(self.prefix) + encoded_list_size + len(self.suffix)
