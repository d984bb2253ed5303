"""Frame codecs: one ProtocolMessage per WebSocket message, JSON text or msgpack binary."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import msgpack

from .errors import AblyError
from .values import check_text


class Format(str, Enum):
    JSON = "json"
    MSGPACK = "msgpack"

    @property
    def content_type(self) -> str:
        return "application/json" if self is Format.JSON else "application/x-msgpack"


def parse_format(value: str | None) -> Format:
    """The `format` query parameter of a realtime connection: absent means JSON."""
    if value in (None, "", "json"):
        return Format.JSON
    if value == "msgpack":
        return Format.MSGPACK
    raise AblyError(40003, 400, f"Unsupported format {value!r}: use json or msgpack")


def format_for_content_type(content_type: str | None) -> Format:
    if content_type and "msgpack" in content_type:
        return Format.MSGPACK
    return Format.JSON


_json_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps_json(obj: Any) -> str:
    return _json_encoder.encode(obj)


def encode(obj: Any, fmt: Format) -> bytes:
    """Encode a wire object (dicts, lists, str, bytes, numbers) for `fmt`."""
    if fmt is Format.JSON:
        return dumps_json(obj).encode()
    return msgpack.packb(obj, use_bin_type=True)


def decode(data: bytes | str, fmt: Format) -> Any:
    """Decode a body or frame; msgpack strings that are not UTF-8 come back surrogate-escaped."""
    try:
        if fmt is Format.JSON:
            return json.loads(data)
        if isinstance(data, str):
            raise AblyError(40000, 400, "Expected a binary msgpack frame, got text")
        return msgpack.unpackb(data, raw=False, unicode_errors="surrogateescape", strict_map_key=False)
    except AblyError:
        raise
    except RecursionError:
        raise AblyError(40000, 400, f"Malformed {fmt.value}: nested too deeply") from None
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise AblyError(40000, 400, f"Malformed {fmt.value}: {exc or type(exc).__name__}") from exc


def decode_frame(data: bytes | str, fmt: Format) -> dict[str, Any]:
    if fmt is Format.JSON and isinstance(data, bytes):
        raise AblyError(40000, 400, "Expected a JSON text frame, got binary")
    obj = decode(data, fmt)
    if not isinstance(obj, dict):
        raise AblyError(40000, 400, "A ProtocolMessage must be an object")
    return obj


def as_int(value: Any, field: str, default: int | None = None) -> int | None:
    """Read an integer field, tolerating float-looking integers and null."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise AblyError(40000, 400, f"Field {field} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise AblyError(40000, 400, f"Field {field} must be an integer")


def as_str(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise AblyError(40000, 400, f"Field {field} must be a string")
    return check_text(value, field)
