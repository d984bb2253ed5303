"""The core channel service: the only caller of storage, and the registry of live channels.

Realtime and REST reach the engine only through here: publish (checks, then server-stamped
identity, then the append), mutate, history, replay points, single messages and their
versions, and presence. Committed publications come back through the engine's hook and are
routed to the live channel that fans them out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from ..auth import AuthContext
from ..engine.base import Engine, HistoryQuery, Publication
from ..engine.mutations import MUTATIONS
from ..engine.presence import PresenceEvent
from ..observe.metrics import Metrics
from ..protocol.errors import AblyError
from ..protocol.message import Message
from ..protocol.presence import PresenceMessage
from ..protocol.serial import Position
from .annotations import AnnotationHub
from .channel import Channel, now_ms
from .ephemeral import ephemeral_batch, is_ephemeral, publish_ephemeral
from .frames import Framer
from .mutate import prepare_mutation
from .presence import PresenceHub, synthesized_leaves
from .publish import prepare_presence, prepare_publish, stamp_messages
from .rules import ChannelRules

__all__ = ["MUTATIONS", "HistoryQuery", "Hub", "Publication"]


class Hub:
    def __init__(self, engine: Engine, framer: Framer, rollup_window: int = 0, metrics: Metrics | None = None) -> None:
        self._engine = engine
        self.metrics = metrics if metrics is not None else Metrics()
        self._framer = framer
        self._rollup_window = rollup_window
        self._channels: dict[str, Channel] = {}
        engine.set_listener(self._on_publication)
        self.presence = PresenceHub(engine, framer, self._delivered)
        self.annotations = AnnotationHub(engine, framer, self._latest)

    # -- live channels ------------------------------------------------------------------

    def _delivered(self, name: str) -> Position | None:
        channel = self._channels.get(name)
        return channel.cursor if channel is not None else None

    def _latest(self, name: str) -> Position | None:
        channel = self._channels.get(name)
        return channel.latest if channel is not None else None

    def _on_publication(self, publication: Publication) -> None:
        channel = self._channels.get(publication.channel)
        if channel is not None:
            channel.on_publication(publication)
        elif publication.channel.startswith("\n"):  # a derived log (presence, annotations)
            self.annotations.on_publication(publication)

    def channel(self, name: str) -> Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = Channel(name, self._engine, self._framer, self._rollup_window,
                                                     metrics=self.metrics)
            self.metrics.channels_opened += 1
        return channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def release(self, name: str) -> None:
        """Forget a channel nobody is attached to; its log stays in the engine."""
        channel = self._channels.get(name)
        if channel is not None and channel.idle:
            del self._channels[name]

    def __len__(self) -> int:
        return len(self._channels)

    def live_names(self) -> list[str]:
        """Names of the live channels (someone is attached), sorted: Ably's channel enumeration."""
        return sorted(self._channels)

    async def ping(self) -> None:
        """Raise unless storage answers (readiness)."""
        await self._engine.ping()

    # -- messages -----------------------------------------------------------------------

    def publish(self, channel: str, messages: Sequence[Message], auth: AuthContext, client_id: str | None,
                max_size: int, *, id_base: str,
                connection_id: str | None) -> Awaitable[Publication | list[Message]]:
        """Check and stamp now (AblyError raises here), and start the append: the awaitable gives
        the committed publication (each message's serial, a repeat's the first copy's), or for an
        ephemeral batch the messages delivered live and never stored (no serials)."""
        ephemeral = ephemeral_batch(messages)
        size = prepare_publish(messages, channel, auth, client_id, max_size)
        if connection_id is None:
            self.metrics.rest_messages_in += len(messages)
            self.metrics.rest_message_bytes_in += size
        else:
            self.metrics.realtime_messages_in += len(messages)
            self.metrics.realtime_message_bytes_in += size
        keys = stamp_messages(messages, id_base, connection_id)
        if ephemeral:
            return publish_ephemeral(self, channel, list(messages), now_ms())
        return self._engine.append(channel, list(messages), now_ms(), idempotency_keys=keys)

    def mutate(self, channel: str, request: Message, auth: AuthContext, client_id: str | None,
               rules: ChannelRules, max_size: int) -> Awaitable[Publication]:
        """An update, delete or append of the message `request.serial` names; checked like `publish`
        (AblyError raises here), authorised against the original once storage finds it."""
        if is_ephemeral(request):
            raise AblyError(40003, 400, "An update, delete or append cannot be ephemeral")
        part, authorize = prepare_mutation(request, channel, auth, client_id, rules, max_size)
        return self._engine.mutate(channel, part, now_ms(), authorize)

    async def head(self, channel: str) -> Position:
        return await self._engine.head(channel)

    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        return await self._engine.history(channel, query)

    async def get_message(self, channel: str, serial: str) -> Message | None:
        return await self._engine.get_message(channel, serial)

    async def versions(self, channel: str, serial: str) -> list[Message]:
        return await self._engine.versions(channel, serial)

    # -- presence -----------------------------------------------------------------------

    def enter_presence(self, channel: str, messages: list[PresenceMessage], auth: AuthContext,
                       client_id: str | None, connection_id: str, id_base: str,
                       max_size: int) -> Awaitable[PresenceEvent]:
        """Member events from a connection: identity stamped now (AblyError raises here), applied
        when awaited."""
        self.metrics.presence_messages_in += len(messages)
        self.metrics.presence_message_bytes_in += prepare_presence(messages, auth, client_id, connection_id, id_base,
                                                                   max_size)
        return self._engine.presence_update(channel, messages, now_ms())

    async def leave_connection(self, channel: str, connection_id: str) -> None:
        """Server-made leaves for every member a connection has on `channel` (it went, or detached)."""
        members = await self._engine.presence_members(channel, connection_id=connection_id)
        if members:
            now = now_ms()
            await self._engine.presence_update(channel, synthesized_leaves(members, now), now)

    async def presence_members(self, channel: str, client_id: str | None = None,
                               connection_id: str | None = None) -> list[PresenceMessage]:
        return await self._engine.presence_members(channel, client_id, connection_id)

    async def presence_history(self, channel: str, query: HistoryQuery) -> list[PresenceMessage]:
        return await self._engine.presence_history(channel, query)
