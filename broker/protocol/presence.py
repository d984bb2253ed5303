"""The canonical PresenceMessage: a member event, with data kept as str or bytes like Message."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .actions import PresenceAction
from .errors import AblyError
from .message import Message, normalise_data, object_field, payload_size, wire_data
from .wire import Format, as_int, as_str

CLIENT_ACTIONS = frozenset({PresenceAction.ENTER, PresenceAction.UPDATE, PresenceAction.LEAVE})


@dataclass(slots=True)
class PresenceMessage:
    """`serial` is internal: the event's place in the channel's presence log (history paging)."""

    action: int
    client_id: str | None = None
    connection_id: str | None = None
    data: str | bytes | None = None
    encoding: str | None = None
    extras: dict[str, Any] | None = None
    id: str | None = None
    timestamp: int | None = None
    serial: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The member identity: the same clientId on two connections is two members."""
        return self.client_id or "", self.connection_id or ""

    @classmethod
    def from_wire(cls, obj: Any, fmt: Format) -> PresenceMessage:
        """A client's enter/update/leave; identity and timestamps are stamped by the broker later."""
        if not isinstance(obj, dict):
            raise AblyError(40000, 400, "A presence message must be an object")
        action = as_int(obj.get("action"), "action")
        if action not in CLIENT_ACTIONS:
            raise AblyError(40000, 400, f"Presence action must be enter (2), update (4) or leave (3), not {action}")
        extras = object_field(obj, "extras", "Presence")
        encoding = as_str(obj.get("encoding"), "encoding") or None
        data, encoding = normalise_data(obj.get("data"), encoding, fmt)
        return cls(
            action=PresenceAction(action),
            client_id=as_str(obj.get("clientId"), "clientId"),
            data=data,
            encoding=encoding,
            extras=extras,
            id=as_str(obj.get("id"), "id") or None,
        )

    def to_wire(self, fmt: Format, action: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"action": int(self.action if action is None else action)}
        if self.id is not None:
            out["id"] = self.id
        if self.client_id is not None:
            out["clientId"] = self.client_id
        if self.connection_id is not None:
            out["connectionId"] = self.connection_id
        data, encoding = wire_data(self.data, self.encoding, fmt)
        if data is not None:
            out["data"] = data
        if encoding:
            out["encoding"] = encoding
        if self.extras is not None:
            out["extras"] = self.extras
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out

    @property
    def size(self) -> int:
        """Counted like a Message: clientId + JSON extras + data."""
        return payload_size(self.data, self.client_id, self.extras)

    def to_message(self) -> Message:
        """The log form: engines keep presence history in the same shape as messages."""
        return Message(data=self.data, encoding=self.encoding, client_id=self.client_id,
                       connection_id=self.connection_id, id=self.id, timestamp=self.timestamp,
                       extras=self.extras, action=int(self.action), serial=self.serial)

    @classmethod
    def from_message(cls, message: Message) -> PresenceMessage:
        return cls(action=message.action, client_id=message.client_id, connection_id=message.connection_id,
                   data=message.data, encoding=message.encoding, extras=message.extras, id=message.id,
                   timestamp=message.timestamp, serial=message.serial)

    def copy(self, **changes: Any) -> PresenceMessage:
        return replace(self, **changes)
