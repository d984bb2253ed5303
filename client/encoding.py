"""Payload encoding and the wire form of messages and presence messages.

Outbound: text stays text, binary is msgpack `bin` (or base64 on JSON), objects and arrays are
JSON strings with the `json` encoding. Inbound: the encoding chain is undone right to left; a
step the client cannot undo stays in `encoding` with the data as far as it got.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from .errors import AblyError
from .types import (
    Data,
    Message,
    MessageAction,
    MessageOperation,
    MessageVersion,
    PresenceAction,
    PresenceMessage,
)
from .wire import Format, dumps_json

log = logging.getLogger(__name__)

_MESSAGE_ACTIONS = tuple(MessageAction)
_PRESENCE_ACTIONS = tuple(PresenceAction)


def _append(encoding: str | None, step: str) -> str:
    return f"{encoding}/{step}" if encoding else step


def encode_data(data: Data, encoding: str | None, fmt: Format) -> tuple[Any, str | None]:
    """The wire form of a payload and its encoding for `fmt`."""
    if data is None or isinstance(data, str):
        return data, encoding
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if fmt is Format.JSON:
            return base64.b64encode(raw).decode("ascii"), _append(encoding, "base64")
        return raw, encoding
    if isinstance(data, (dict, list)):
        return dumps_json(data), _append(encoding, "json")
    raise AblyError(40013, 400, f"Unsupported data type {type(data).__name__}; use str, bytes, dict or list")


def decode_data(data: Any, encoding: str | None) -> tuple[Data, str | None]:
    """Undo the encoding chain; returns the data and whatever part of the chain remains."""
    if not encoding:
        return data, None
    steps = encoding.split("/")
    while steps:
        step = steps[-1]
        try:
            if step == "base64":
                if isinstance(data, str):
                    data = base64.b64decode(data, validate=True)
            elif step == "json" and isinstance(data, (str, bytes)):
                data = json.loads(data)
            elif step in ("utf-8", "utf8") and isinstance(data, bytes):
                data = data.decode("utf-8")
            else:
                break
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            log.warning("Could not undo %r encoding of a payload: %s", step, exc)
            break
        steps.pop()
    return data, "/".join(steps) or None


def data_size(data: Data) -> int:
    if data is None:
        return 0
    if isinstance(data, str):
        return len(data.encode("utf-8"))
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    return len(dumps_json(data).encode("utf-8"))


def message_size(name: str | None, client_id: str | None, extras: dict[str, Any] | None, data: Data) -> int:
    """Ably's message size: name + clientId + JSON extras + data."""
    size = data_size(data)
    if name:
        size += len(name.encode("utf-8"))
    if client_id:
        size += len(client_id.encode("utf-8"))
    if extras is not None:
        size += len(dumps_json(extras).encode("utf-8"))
    return size


def operation_to_wire(op: MessageOperation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if op.client_id is not None:
        out["clientId"] = op.client_id
    if op.description is not None:
        out["description"] = op.description
    if op.metadata is not None:
        out["metadata"] = dict(op.metadata)
    return out


def message_to_wire(msg: Message, fmt: Format, operation: MessageOperation | None = None) -> dict[str, Any]:
    """The outbound wire form; for an update/delete/append `operation` becomes `version`."""
    out: dict[str, Any] = {}
    if msg.id is not None:
        out["id"] = msg.id
    if msg.name is not None:
        out["name"] = msg.name
    data, encoding = encode_data(msg.data, msg.encoding, fmt)
    if data is not None:
        out["data"] = data
    if encoding:
        out["encoding"] = encoding
    if msg.client_id is not None:
        out["clientId"] = msg.client_id
    if msg.extras is not None:
        out["extras"] = msg.extras
    if msg.action != MessageAction.CREATE:
        out["action"] = int(msg.action)
    if msg.serial is not None:
        out["serial"] = msg.serial
    if operation is not None:
        out["version"] = operation_to_wire(operation)
    return out


def _version_from_wire(obj: Any) -> MessageVersion | None:
    if not isinstance(obj, dict):
        return None
    get = obj.get  # once per received append: positional, like message_from_wire
    metadata = get("metadata")
    return MessageVersion(get("serial"), get("timestamp"), get("clientId"), get("description"),
                          metadata if isinstance(metadata, dict) else None)


def _action(value: Any, table: tuple[Any, ...], default: Any) -> Any:
    if isinstance(value, int) and 0 <= value < len(table):
        return table[value]
    return default


def message_from_wire(obj: dict[str, Any], pm_id: str | None = None, index: int = 0,
                      connection_id: str | None = None, timestamp: int | None = None) -> Message:
    """A received message; id, connectionId and timestamp default from its ProtocolMessage."""
    get = obj.get  # the receive hot path: plain lookups, positional construction
    data = get("data")
    encoding = get("encoding")
    if encoding:
        data, encoding = decode_data(data, encoding)
    msg_id = get("id")
    if msg_id is None and pm_id is not None:
        msg_id = f"{pm_id}:{index}"
    version = get("version")
    action = get("action")
    kind = _MESSAGE_ACTIONS[action] if type(action) is int and 0 <= action < len(_MESSAGE_ACTIONS) \
        else MessageAction.CREATE
    return Message(
        get("name"), data, msg_id, get("clientId"), get("connectionId") or connection_id,
        get("timestamp") or timestamp, encoding, get("extras"), kind,
        get("serial"), _version_from_wire(version) if version is not None else None, get("annotations"))


def presence_to_wire(msg: PresenceMessage, fmt: Format) -> dict[str, Any]:
    out: dict[str, Any] = {"action": int(msg.action)}
    if msg.id is not None:
        out["id"] = msg.id
    if msg.client_id is not None:
        out["clientId"] = msg.client_id
    data, encoding = encode_data(msg.data, msg.encoding, fmt)
    if data is not None:
        out["data"] = data
    if encoding:
        out["encoding"] = encoding
    if msg.extras is not None:
        out["extras"] = msg.extras
    return out


def presence_from_wire(obj: dict[str, Any], pm_id: str | None = None, index: int = 0,
                       connection_id: str | None = None, timestamp: int | None = None) -> PresenceMessage:
    data, encoding = decode_data(obj.get("data"), obj.get("encoding"))
    msg_id = obj.get("id")
    if msg_id is None and pm_id is not None:
        msg_id = f"{pm_id}:{index}"
    return PresenceMessage(
        action=_action(obj.get("action"), _PRESENCE_ACTIONS, PresenceAction.PRESENT),
        client_id=obj.get("clientId"),
        connection_id=obj.get("connectionId") or connection_id,
        data=data,
        id=msg_id,
        timestamp=obj.get("timestamp") or timestamp,
        encoding=encoding,
        extras=obj.get("extras"),
    )
