"""The canonical Message: data kept as str or bytes, so each wire format gets its own form."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from .errors import AblyError
from .values import check_int64, check_portable, check_text
from .wire import Format, as_int, as_str, dumps_json


def _strip_base64(data: str, encoding: str) -> tuple[bytes, str | None]:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AblyError(40013, 400, "Data with base64 encoding is not valid base64") from exc
    rest = encoding[: -len("base64")].rstrip("/")
    return raw, rest or None


def normalise_data(data: Any, encoding: str | None, fmt: Format) -> tuple[str | bytes | None, str | None]:
    """Bring inbound data to its canonical form: text as str, binary as bytes."""
    if data is None or isinstance(data, bytes):
        return data, encoding
    if isinstance(data, str):
        if encoding and encoding.split("/")[-1] == "base64":
            return _strip_base64(data, encoding)
        if fmt is Format.MSGPACK:
            try:
                data.encode()
            except UnicodeEncodeError:  # a raw msgpack string that was really binary
                return data.encode("utf-8", "surrogateescape"), encoding
        return check_text(data, "data"), encoding
    if isinstance(data, (dict, list)):
        check_portable(data, "data")
        return dumps_json(data), f"{encoding}/json" if encoding else "json"
    raise AblyError(40013, 400, f"Unsupported data type {type(data).__name__}")


def object_field(obj: dict[str, Any], field: str, what: str) -> dict[str, Any] | None:
    """`extras` or `version`: an object of values every subscriber's format can carry, or absent."""
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise AblyError(40000, 400, f"{what} {field} must be an object")
    check_portable(value, field)
    return value


def wire_data(data: str | bytes | None, encoding: str | None, fmt: Format) -> tuple[str | bytes | None, str | None]:
    """Binary goes to JSON clients as base64 (with `base64` appended), to msgpack ones as bin."""
    if isinstance(data, bytes) and fmt is Format.JSON:
        return base64.b64encode(data).decode(), f"{encoding}/base64" if encoding else "base64"
    return data, encoding


def payload_size(data: str | bytes | None, client_id: str | None, extras: dict[str, Any] | None,
                 name: str | None = None) -> int:
    """Ably's message size: name + clientId + JSON extras + data."""
    size = data_size(data)
    if name:
        size += len(name.encode())
    if client_id:
        size += len(client_id.encode())
    if extras is not None:
        size += len(dumps_json(extras).encode())
    return size


def data_size(data: str | bytes | None) -> int:
    if data is None:
        return 0
    if isinstance(data, bytes):
        return len(data)
    if data.isascii():  # O(1) in CPython: no need to encode a long aggregate on every append
        return len(data)
    return len(data.encode("utf-8", "surrogatepass"))


def _timestamp(value: Any) -> int | None:
    timestamp = as_int(value, "timestamp")
    return None if timestamp is None else check_int64(timestamp, "timestamp")


@dataclass(slots=True)
class Message:
    name: str | None = None
    data: str | bytes | None = None
    encoding: str | None = None
    client_id: str | None = None
    connection_id: str | None = None
    id: str | None = None
    timestamp: int | None = None
    extras: dict[str, Any] | None = None
    action: int = 0
    serial: str | None = None
    version: dict[str, Any] | None = None
    connection_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_wire(cls, obj: Any, fmt: Format) -> Message:
        if not isinstance(obj, dict):
            raise AblyError(40000, 400, "A message must be an object")
        extras = object_field(obj, "extras", "Message")
        version = object_field(obj, "version", "Message")
        encoding = as_str(obj.get("encoding"), "encoding") or None
        data, encoding = normalise_data(obj.get("data"), encoding, fmt)
        return cls(
            name=as_str(obj.get("name"), "name"),
            data=data,
            encoding=encoding,
            client_id=as_str(obj.get("clientId"), "clientId"),
            connection_id=as_str(obj.get("connectionId"), "connectionId"),
            id=as_str(obj.get("id"), "id"),
            timestamp=_timestamp(obj.get("timestamp")),
            extras=extras,
            action=as_int(obj.get("action"), "action", 0) or 0,
            serial=as_str(obj.get("serial"), "serial"),
            version=version,
            connection_key=as_str(obj.get("connectionKey"), "connectionKey"),
        )

    def to_wire(self, fmt: Format) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        if self.name is not None:
            out["name"] = self.name
        data, encoding = wire_data(self.data, self.encoding, fmt)
        if data is not None:
            out["data"] = data
        if encoding:
            out["encoding"] = encoding
        if self.client_id is not None:
            out["clientId"] = self.client_id
        if self.connection_id is not None:
            out["connectionId"] = self.connection_id
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        if self.extras is not None:
            out["extras"] = self.extras
        out["action"] = self.action
        if self.serial is not None:
            out["serial"] = self.serial
        if self.version is not None:
            out["version"] = self.version
        return out

    @property
    def size(self) -> int:
        return payload_size(self.data, self.client_id, self.extras, self.name)

    def copy(self, **changes: Any) -> Message:
        """A shallow copy with `changes`; positional, because `dataclasses.replace` costs several
        µs a call and a token stream copies each append two or three times."""
        out = Message(self.name, self.data, self.encoding, self.client_id, self.connection_id, self.id,
                      self.timestamp, self.extras, self.action, self.serial, self.version, self.connection_key)
        for name, value in changes.items():
            setattr(out, name, value)
        return out
