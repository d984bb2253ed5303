"""Annotations on messages (reactions, flags, votes): `channel.annotations`, as ably-js has it.

`publish(message_or_serial, Annotation(type="reaction:distinct.v1", name="👍"))` adds one,
`delete(...)` removes that contribution from the message's summary, `get(...)` pages through
every raw annotation of a message over REST, and on a realtime channel `subscribe(listener)`
receives raw annotations — only when the channel was attached with the
`annotation_subscribe` mode, which is never in the default set (as on Ably). Summaries need
no subscription: they arrive as messages with action `MessageAction.SUMMARY` and
`message.annotations["summary"]` on an ordinary `channel.subscribe`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from broker.protocol.actions import Action
from broker.protocol.annotation import AnnotationAction
from broker.protocol.wire import Format

from .encoding import decode_data, encode_data
from .errors import AblyError
from .events import EventEmitter, EventStream, Listener
from .types import Data, Message, PaginatedResult
from .wire import ChannelMode

if TYPE_CHECKING:
    from .realtime.channel import RealtimeChannel
    from .rest.channel import RestChannel

__all__ = ["Annotation", "AnnotationAction", "RealtimeAnnotations", "RestAnnotations"]


@dataclass(slots=True)
class Annotation:
    """One annotation; `type` is `namespace:method` with a method such as `distinct.v1`."""

    type: str
    name: str | None = None
    count: int | None = None
    data: Data = None
    extras: dict[str, Any] | None = None
    client_id: str | None = None
    action: AnnotationAction = AnnotationAction.CREATE
    # Set by the server:
    message_serial: str | None = None
    serial: str | None = None
    id: str | None = None
    connection_id: str | None = None
    timestamp: int | None = None
    encoding: str | None = None


def _serial_of(message_or_serial: Message | str) -> str:
    serial = message_or_serial if isinstance(message_or_serial, str) else message_or_serial.serial
    if not serial:
        raise AblyError(40003, 400, "Annotations need the serial of a received message (or the message itself)")
    return serial


def annotation_to_wire(annotation: Annotation, serial: str, action: AnnotationAction, fmt: Format) -> dict[str, Any]:
    out: dict[str, Any] = {"type": annotation.type, "messageSerial": serial, "action": int(action)}
    for key, value in (("name", annotation.name), ("count", annotation.count), ("extras", annotation.extras),
                       ("clientId", annotation.client_id)):
        if value is not None:
            out[key] = value
    data, encoding = encode_data(annotation.data, None, fmt)
    if data is not None:
        out["data"] = data
    if encoding:
        out["encoding"] = encoding
    return out


def annotation_from_wire(obj: dict[str, Any], pm: dict[str, Any] | None = None, index: int = 0) -> Annotation:
    """A received annotation; id, connectionId and timestamp default from its ProtocolMessage."""
    pm = pm or {}
    data, encoding = decode_data(obj.get("data"), obj.get("encoding"))
    action = obj.get("action")
    msg_id = obj.get("id") or (f"{pm['id']}:{index}" if pm.get("id") else None)
    return Annotation(
        type=str(obj.get("type", "")), name=obj.get("name"), count=obj.get("count"), data=data,
        extras=obj.get("extras"), client_id=obj.get("clientId"),
        action=AnnotationAction(action) if action in (0, 1) else AnnotationAction.CREATE,
        message_serial=obj.get("messageSerial"), serial=obj.get("serial"), id=msg_id,
        connection_id=obj.get("connectionId") or pm.get("connectionId"),
        timestamp=obj.get("timestamp") or pm.get("timestamp"), encoding=encoding)


def _type_filter(kind: str | Iterable[str] | None) -> Any:
    if kind is None:
        return None
    kinds = frozenset([kind] if isinstance(kind, str) else kind)
    return lambda annotation: annotation.type in kinds


class RestAnnotations:
    """`rest_channel.annotations`: publish, delete and read annotations over REST."""

    def __init__(self, channel: RestChannel) -> None:
        self._channel = channel

    def _path(self, serial: str) -> str:
        return f"{self._channel.path}/messages/{quote(serial, safe='')}/annotations"

    async def publish(self, message_or_serial: Message | str, annotation: Annotation) -> None:
        await self._send(message_or_serial, annotation, annotation.action)

    async def delete(self, message_or_serial: Message | str, annotation: Annotation) -> None:
        await self._send(message_or_serial, annotation, AnnotationAction.DELETE)

    async def _send(self, message_or_serial: Message | str, annotation: Annotation, action: AnnotationAction) -> None:
        serial = _serial_of(message_or_serial)
        rest = self._channel._rest
        await rest.request("POST", self._path(serial),
                           body=[annotation_to_wire(annotation, serial, action, rest.options.format)])

    async def get(self, message_or_serial: Message | str, *, limit: int = 100) -> PaginatedResult[Annotation]:
        """Every annotation of the message, earliest first."""
        return await self._channel._rest.paginated(self._path(_serial_of(message_or_serial)), {"limit": limit},
                                                   annotation_from_wire)


class RealtimeAnnotations:
    """`channel.annotations` on a realtime channel: publish over the connection, subscribe to raw ones."""

    def __init__(self, channel: RealtimeChannel) -> None:
        self._channel = channel
        self._events: EventEmitter[Annotation] = EventEmitter()

    async def publish(self, message_or_serial: Message | str, annotation: Annotation) -> None:
        """Resolves once the server has stored it (ACK); does not attach the channel."""
        await self._send(message_or_serial, annotation, annotation.action)

    async def delete(self, message_or_serial: Message | str, annotation: Annotation) -> None:
        await self._send(message_or_serial, annotation, AnnotationAction.DELETE)

    async def _send(self, message_or_serial: Message | str, annotation: Annotation, action: AnnotationAction) -> None:
        serial = _serial_of(message_or_serial)
        channel = self._channel
        frame = {"action": Action.ANNOTATION, "channel": channel.name,
                 "annotations": [annotation_to_wire(annotation, serial, action, channel._client.options.format)]}
        await channel._connection.send_acked(frame)

    async def subscribe(self, listener: Listener[Annotation], type: str | Iterable[str] | None = None) -> None:
        """Call `listener` for each raw annotation (optionally of `type`); attaches the channel.

        Raises 93001 when the channel is attached without the annotation_subscribe mode (the
        listener stays registered, as in ably-js)."""
        self._events.on(listener, _type_filter(type))
        await self._channel.attach()
        self._check_mode()

    def unsubscribe(self, listener: Listener[Annotation] | None = None) -> None:
        self._events.off(listener)

    def events(self, type: str | Iterable[str] | None = None) -> EventStream[Annotation]:
        """`async for annotation in channel.annotations.events()`; attaches on first use."""

        async def start() -> None:
            await self._channel.attach()
            self._check_mode()

        return self._events.stream(_type_filter(type), start=start)

    async def get(self, message_or_serial: Message | str, *, limit: int = 100) -> PaginatedResult[Annotation]:
        return await self._channel._rest.annotations.get(message_or_serial, limit=limit)

    def _check_mode(self) -> None:
        if ChannelMode.ANNOTATION_SUBSCRIBE not in self._channel.modes:
            raise AblyError(93001, 400, "The channel is attached without the annotation_subscribe mode, so no "
                                        "annotations will arrive: request it in the channel's modes")

    def _on_annotation(self, pm: dict[str, Any]) -> None:
        items = pm.get("annotations") or []
        self._events.emit_many([annotation_from_wire(obj, pm, i) for i, obj in enumerate(items) if isinstance(obj, dict)])

