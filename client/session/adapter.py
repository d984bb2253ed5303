"""`SessionChannel` on Tether's own realtime client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..types import (
    ChannelStateChange,
    Message,
    PresenceMessage,
    PublishResult,
    UpdateDeleteResult,
)
from .channel import HistoryPage, Unsubscribe

if TYPE_CHECKING:
    from ..realtime import Realtime, RealtimeChannel, RealtimePresence

SDK_AGENT = "ai-transport-python/0.1.0"


def agent_param(adapter_tag: str | None) -> str:
    """The attach `agent` param (attribution only), like ably-js's `ai-transport-js/0.8.0 <tag>/0.8.0`."""
    return f"{SDK_AGENT} {adapter_tag}/0.1.0" if adapter_tag else SDK_AGENT


class _Presence:
    def __init__(self, presence: RealtimePresence) -> None:
        self._presence = presence

    async def enter(self, data: Any = None) -> None:
        await self._presence.enter(data)

    async def update(self, data: Any = None) -> None:
        await self._presence.update(data)

    async def leave(self, data: Any = None) -> None:
        await self._presence.leave(data)

    async def get(self) -> list[PresenceMessage]:
        return await self._presence.get()

    async def subscribe(self, listener: Callable[[PresenceMessage], None]) -> Unsubscribe:
        await self._presence.subscribe(listener)
        return lambda: self._presence.unsubscribe(listener)


class RealtimeSessionChannel:
    """Adapt `client.channels.get(name)`; `adapter_tag` names the codec in the attach `agent` param."""

    def __init__(self, client: Realtime, name: str, adapter_tag: str | None = None) -> None:
        self._client = client
        self._channel: RealtimeChannel = client.channels.get(name, params={"agent": agent_param(adapter_tag)})
        self._presence = _Presence(self._channel.presence)

    @property
    def name(self) -> str:
        return self._channel.name

    @property
    def state(self) -> str:
        return str(self._channel.state.value)

    @property
    def client_id(self) -> str | None:
        return self._client.client_id

    @property
    def presence(self) -> _Presence:
        return self._presence

    @property
    def channel(self) -> RealtimeChannel:
        return self._channel

    async def attach(self) -> None:
        await self._channel.attach()

    async def detach(self) -> None:
        await self._channel.detach()

    async def subscribe(self, listener: Callable[[Message], None]) -> Unsubscribe:
        await self._channel.subscribe(listener)
        return lambda: self._channel.unsubscribe(listener)

    def on_state_change(self, listener: Callable[[ChannelStateChange], None]) -> Unsubscribe:
        self._channel.on(listener)
        return lambda: self._channel.off(listener)

    async def publish(self, messages: Message | Sequence[Message]) -> PublishResult:
        return await self._channel.publish(messages)

    def append_message(self, message: Message) -> Awaitable[UpdateDeleteResult]:
        return self._channel.append_message(message)

    def update_message(self, message: Message) -> Awaitable[UpdateDeleteResult]:
        return self._channel.update_message(message)

    async def history(self, *, limit: int, until_attach: bool) -> HistoryPage:
        return await self._channel.history(limit=limit, until_attach=until_attach)
