"""REST channel operations: publish, history, message versions and mutations, presence reads."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from ..annotations import RestAnnotations
from ..encoding import message_from_wire, message_to_wire, presence_from_wire
from ..errors import AblyError
from ..outbound import MessageMutations, check_size, mutation, to_messages
from ..types import (
    Data,
    Message,
    MessageAction,
    MessageOperation,
    PaginatedResult,
    PresenceMessage,
    PublishResult,
    UpdateDeleteResult,
)
from ..wire import DEFAULT_MAX_MESSAGE_SIZE

if TYPE_CHECKING:
    from .client import Rest

Direction = Literal["backwards", "forwards"]


def history_params(start: int | None, end: int | None, direction: Direction, limit: int,
                   from_serial: str | None = None) -> dict[str, str | int]:
    params: dict[str, str | int] = {"direction": direction, "limit": limit}
    if start is not None:
        params["start"] = start
    if end is not None:
        params["end"] = end
    if from_serial is not None:
        params["from_serial"] = from_serial
    return params


class RestPresence:
    def __init__(self, channel: RestChannel) -> None:
        self._channel = channel

    async def get(self, *, limit: int = 100, client_id: str | None = None,
                  connection_id: str | None = None) -> PaginatedResult[PresenceMessage]:
        """The members present now, as the server sees them."""
        params: dict[str, str | int] = {"limit": limit}
        if client_id is not None:
            params["clientId"] = client_id
        if connection_id is not None:
            params["connectionId"] = connection_id
        return await self._channel._rest.paginated(f"{self._channel.path}/presence", params, presence_from_wire)

    async def history(self, *, start: int | None = None, end: int | None = None,
                      direction: Direction = "backwards", limit: int = 100,
                      from_serial: str | None = None) -> PaginatedResult[PresenceMessage]:
        return await self._channel._rest.paginated(f"{self._channel.path}/presence/history",
                                                   history_params(start, end, direction, limit, from_serial),
                                                   presence_from_wire)


class RestChannel(MessageMutations):
    def __init__(self, rest: Rest, name: str) -> None:
        self._rest = rest
        self.name = name
        self.path = f"/channels/{quote(name, safe='')}"
        self.presence = RestPresence(self)
        self.annotations = RestAnnotations(self)

    async def publish(self, name_or_messages: str | Message | Sequence[Message] | None = None, data: Data = None,
                      *, extras: dict[str, Any] | None = None, params: dict[str, str] | None = None) -> PublishResult:
        """Publish one or more messages in one request; resolves with their serials."""
        messages = to_messages(name_or_messages, data, extras)
        options = self._rest.options
        check_size(messages, options.max_message_size or DEFAULT_MAX_MESSAGE_SIZE)
        wire = [message_to_wire(m, options.format) for m in messages]
        if options.idempotent_rest_publishing and all("id" not in w for w in wire):
            base = base64.b64encode(secrets.token_bytes(9)).decode("ascii")
            for index, w in enumerate(wire):
                w["id"] = f"{base}:{index}"
        response = await self._rest.request("POST", f"{self.path}/messages", params=params,
                                            body=wire[0] if len(wire) == 1 else wire)
        body = self._rest.decode(response)
        serials = body.get("serials") if isinstance(body, dict) else None
        return PublishResult(serials=list(serials) if isinstance(serials, list) else [])

    async def history(self, *, start: int | None = None, end: int | None = None,
                      direction: Direction = "backwards", limit: int = 100,
                      from_serial: str | None = None) -> PaginatedResult[Message]:
        """Stored messages, latest version of each, newest first unless `direction="forwards"`."""
        return await self._rest.paginated(f"{self.path}/messages",
                                          history_params(start, end, direction, limit, from_serial),
                                          message_from_wire)

    async def get_message(self, serial: str) -> Message:
        """The latest version of one message."""
        response = await self._rest.request("GET", f"{self.path}/messages/{quote(serial, safe='')}")
        body = self._rest.decode(response)
        if not isinstance(body, dict):
            raise AblyError(50000, 500, f"Expected a message, got {type(body).__name__}")
        return message_from_wire(body)

    async def get_message_versions(self, serial: str, *, direction: Direction = "forwards",
                                   limit: int = 100) -> PaginatedResult[Message]:
        return await self._rest.paginated(f"{self.path}/messages/{quote(serial, safe='')}/versions",
                                          {"direction": direction, "limit": limit}, message_from_wire)

    async def _mutate(self, message: Message, action: MessageAction, operation: MessageOperation | None,
                      params: dict[str, str] | None) -> UpdateDeleteResult:
        target = mutation(message, action)
        assert target.serial is not None
        body = message_to_wire(target, self._rest.options.format, operation or MessageOperation())
        response = await self._rest.request("PATCH", f"{self.path}/messages/{quote(target.serial, safe='')}",
                                            params=params, body=body)
        result = self._rest.decode(response)
        version_serial = result.get("versionSerial") if isinstance(result, dict) else None
        return UpdateDeleteResult(version_serial=version_serial)


class RestChannels:
    def __init__(self, rest: Rest) -> None:
        self._rest = rest
        self._channels: dict[str, RestChannel] = {}

    def get(self, name: str) -> RestChannel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = RestChannel(self._rest, name)
        return channel

    def release(self, name: str) -> None:
        self._channels.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._channels
