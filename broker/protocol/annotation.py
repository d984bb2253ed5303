"""Annotations: small typed additions to a message (reactions, flags, votes), Ably's wire form.

An annotation names the message it annotates (`messageSerial`) and a `type` of the form
`namespace:method.version`; the method (`distinct.v1`, `unique.v1`, `multiple.v1`, `flag.v1`,
`total.v1`) says how annotations fold into the message's summary. Action 0 is
`annotation.create`, 1 `annotation.delete`.

Engines store annotations as ordinary log entries (see `to_entry`): name, data, encoding,
clientId, extras and identity keep their message fields, and the annotation-only fields ride
in `version`, which an appended entry never uses otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .errors import AblyError
from .message import Message, normalise_data, payload_size, wire_data
from .wire import Format, as_int, as_str

METHODS = ("distinct.v1", "unique.v1", "multiple.v1", "flag.v1", "total.v1")
# Methods whose summary attributes contributions to clients: an anonymous one means nothing.
IDENTIFIED_METHODS = frozenset({"distinct.v1", "unique.v1", "flag.v1"})


class AnnotationAction(IntEnum):
    CREATE = 0
    DELETE = 1


def method_of(annotation_type: str) -> str:
    """`reaction:distinct.v1` -> `distinct.v1`."""
    return annotation_type.rpartition(":")[2]


@dataclass(slots=True)
class Annotation:
    type: str
    message_serial: str
    action: int = AnnotationAction.CREATE
    name: str | None = None
    count: int | None = None
    data: str | bytes | None = None
    encoding: str | None = None
    client_id: str | None = None
    connection_id: str | None = None
    id: str | None = None
    timestamp: int | None = None
    serial: str | None = None
    extras: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, obj: Any, fmt: Format, message_serial: str | None = None) -> Annotation:
        """An inbound annotation, validated; `message_serial` fills it in (REST names it in the path)."""
        if not isinstance(obj, dict):
            raise AblyError(40000, 400, "An annotation must be an object")
        kind = as_str(obj.get("type"), "type")
        if not kind:
            raise AblyError(40003, 400, "An annotation needs a type, like reaction:distinct.v1")
        if ":" not in kind or method_of(kind) not in METHODS:
            raise AblyError(40003, 400, f"Annotation type {kind!r} must be namespace:method with a method of "
                                        f"{', '.join(METHODS)}")
        serial = as_str(obj.get("messageSerial"), "messageSerial") or message_serial
        if not serial:
            raise AblyError(40003, 400, "An annotation must name the messageSerial it annotates")
        if message_serial is not None and serial != message_serial:
            raise AblyError(40003, 400, "The annotation's messageSerial differs from the message in the path")
        action = as_int(obj.get("action"), "action", 0) or 0
        if action not in (AnnotationAction.CREATE, AnnotationAction.DELETE):
            raise AblyError(40003, 400, f"Annotation action {action} is neither 0 (create) nor 1 (delete)")
        count = as_int(obj.get("count"), "count")
        if count is not None and count < 0:
            raise AblyError(40003, 400, "An annotation count may not be negative")
        extras = obj.get("extras")
        if extras is not None and not isinstance(extras, dict):
            raise AblyError(40000, 400, "Annotation extras must be an object")
        encoding = as_str(obj.get("encoding"), "encoding") or None
        data, encoding = normalise_data(obj.get("data"), encoding, fmt)
        return cls(type=kind, message_serial=serial, action=action, name=as_str(obj.get("name"), "name"),
                   count=count, data=data, encoding=encoding, client_id=as_str(obj.get("clientId"), "clientId"),
                   id=as_str(obj.get("id"), "id"), extras=extras)

    def to_wire(self, fmt: Format) -> dict[str, Any]:
        out: dict[str, Any] = {"action": int(self.action), "type": self.type, "messageSerial": self.message_serial}
        for key, value in (("id", self.id), ("serial", self.serial), ("name", self.name), ("count", self.count),
                           ("clientId", self.client_id), ("connectionId", self.connection_id),
                           ("timestamp", self.timestamp), ("extras", self.extras)):
            if value is not None:
                out[key] = value
        data, encoding = wire_data(self.data, self.encoding, fmt)
        if data is not None:
            out["data"] = data
        if encoding:
            out["encoding"] = encoding
        return out

    @property
    def size(self) -> int:
        return payload_size(self.data, self.client_id, self.extras, self.name) + len(self.type.encode())

    def to_entry(self) -> Message:
        """The log entry an engine stores for this annotation."""
        fields: dict[str, Any] = {"type": self.type, "messageSerial": self.message_serial}
        if self.count is not None:
            fields["count"] = self.count
        return Message(name=self.name, data=self.data, encoding=self.encoding, client_id=self.client_id,
                       connection_id=self.connection_id, id=self.id, extras=self.extras, action=int(self.action),
                       version=fields)

    @classmethod
    def from_entry(cls, entry: Message) -> Annotation:
        fields = entry.version or {}
        return cls(type=str(fields.get("type", "")), message_serial=str(fields.get("messageSerial", "")),
                   action=entry.action, name=entry.name, count=fields.get("count"), data=entry.data,
                   encoding=entry.encoding, client_id=entry.client_id, connection_id=entry.connection_id,
                   id=entry.id, timestamp=entry.timestamp, serial=entry.serial, extras=entry.extras)


@dataclass(slots=True)
class SummarisedMessage(Message):
    """A message read back with its annotations' summary (`annotations.summary` on the wire)."""

    summary: dict[str, Any] | None = None

    @classmethod
    def of(cls, message: Message, summary: dict[str, Any]) -> SummarisedMessage:
        return cls(message.name, message.data, message.encoding, message.client_id, message.connection_id,
                   message.id, message.timestamp, message.extras, message.action, message.serial, message.version,
                   message.connection_key, summary)

    def to_wire(self, fmt: Format) -> dict[str, Any]:
        out = Message.to_wire(self, fmt)
        if self.summary is not None:
            out["annotations"] = {"summary": self.summary}
        return out
