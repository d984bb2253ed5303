"""Frame codecs and client-side wire helpers (the action and flag tables are broker.protocol's)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import msgpack

from broker.protocol.actions import Flag

from .errors import AblyError

PROTOCOL_VERSION = "5"  # v5 adds publish serials (`res` on ACK); v6 only changes LiveObjects
DEFAULT_MAX_MESSAGE_SIZE = 65536




class ChannelMode(StrEnum):
    """What an attachment may do; requested modes replace the server's default set."""

    PRESENCE = "presence"
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    PRESENCE_SUBSCRIBE = "presence_subscribe"
    ANNOTATION_PUBLISH = "annotation_publish"
    ANNOTATION_SUBSCRIBE = "annotation_subscribe"
    OBJECT_SUBSCRIBE = "object_subscribe"
    OBJECT_PUBLISH = "object_publish"

    @property
    def flag(self) -> Flag:
        return Flag[self.name]


def modes_to_flags(modes: frozenset[ChannelMode]) -> int:
    flags = 0
    for mode in modes:
        flags |= mode.flag
    return flags


def flags_to_modes(flags: int) -> frozenset[ChannelMode]:
    return frozenset(mode for mode in ChannelMode if flags & mode.flag)


class Format(StrEnum):
    JSON = "json"
    MSGPACK = "msgpack"

    @property
    def content_type(self) -> str:
        return "application/json" if self is Format.JSON else "application/x-msgpack"


_json_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps_json(obj: Any) -> str:
    return _json_encoder.encode(obj)


def pack(obj: Any, fmt: Format) -> bytes | str:
    """Encode one ProtocolMessage: JSON as a text frame (str), msgpack as a binary frame."""
    if fmt is Format.JSON:
        return _json_encoder.encode(obj)
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


def unpack(frame: bytes | str, fmt: Format) -> Any:
    """Decode a frame or body; a frame of the wrong kind is a protocol error, not a crash."""
    try:
        if fmt is Format.JSON:
            if isinstance(frame, bytes):
                frame = frame.decode()
            return json.loads(frame)
        if isinstance(frame, str):
            raise AblyError(40000, 400, "Expected a binary msgpack frame, got text")
        return msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except AblyError:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise AblyError(40000, 400, f"Malformed {fmt.value} data: {exc}") from exc
