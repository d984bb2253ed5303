"""The core channel service: the only caller of storage, and the registry of live channels.

The Hub stores and routes by storage key, never by channel name: realtime and REST reach it
only through an app's view (`Hub.app`, core/app_hub), which checks and stamps, and maps the
channel names its clients use to keys under the app's scope. Committed publications come back
through the engine's bus (engine/bus), which the hub subscribes for each live channel: a channel
is subscribed when it appears (`channel`) and unsubscribed when it goes (`release`), and its
publications are routed by key to the live channel, which repairs what the bus lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from ..engine.base import Authorizer, Engine, HistoryQuery, Publication
from ..engine.mutations import MUTATIONS
from ..engine.presence import PresenceEvent
from ..engine.scope import scope_of
from ..observe.metrics import Metrics
from ..protocol.message import Message
from ..protocol.presence import PresenceMessage
from ..protocol.serial import Position
from .annotations import ANNOTATION_LOGS, AnnotationHub
from .app_hub import AppHub
from .channel import Channel, now_ms
from .frames import Framer
from .presence import PresenceHub, synthesized_leaves
from .rules import ChannelRules

__all__ = ["MUTATIONS", "AppHub", "HistoryQuery", "Hub", "Publication"]


class Hub:
    def __init__(self, engine: Engine, framer: Framer, rollup_window: int = 0,
                 rules: ChannelRules | None = None, metrics: Metrics | None = None) -> None:
        self._engine = engine
        self.metrics = metrics if metrics is not None else Metrics()
        self.rules = rules or ChannelRules()  # every app's, unless it has its own (set_rules)
        self._app_rules: dict[str, ChannelRules] = {}
        self._framer = framer
        self._rollup_window = rollup_window
        self._channels: dict[str, Channel] = {}
        engine.bus.connect(self._on_publication)
        engine.bus.subscribe_prefix(ANNOTATION_LOGS)  # summaries and raw annotations of live channels
        self.presence = PresenceHub(engine, framer, self._delivered)
        self.annotations = AnnotationHub(engine, framer, self._latest)
        self._apps: dict[str, AppHub] = {}

    def set_rules(self, app_id: str, rules: ChannelRules) -> None:
        self._app_rules[app_id] = rules

    def rules_of(self, app_id: str) -> ChannelRules:
        return self._app_rules.get(app_id, self.rules)

    async def drop_app(self, app_id: str) -> int:
        """Delete everything stored for an app (its connections have ended); returns messages removed."""
        self._apps.pop(app_id, None)
        self._app_rules.pop(app_id, None)
        for key in [key for key in self._channels if scope_of(key) == app_id]:
            del self._channels[key]
            self._engine.bus.unsubscribe(key)
        return await self._engine.drop_scope(app_id)

    def app(self, app_id: str) -> AppHub:
        """The view of one app: its channel names, stored under its scope."""
        view = self._apps.get(app_id)
        if view is None:
            view = self._apps[app_id] = AppHub(self, app_id)
        return view

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
        else:
            self.annotations.on_publication(publication)

    def channel(self, name: str) -> Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = Channel(name, self._engine, self._framer, self._rollup_window,
                                                     metrics=self.metrics)
            self.metrics.channels_opened += 1
            self._engine.bus.subscribe(name)
        return channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def release(self, name: str) -> None:
        """Forget a channel nobody is attached to; its log stays in the engine."""
        channel = self._channels.get(name)
        if channel is not None and channel.idle:
            del self._channels[name]
            self._engine.bus.unsubscribe(name)

    def __len__(self) -> int:
        return len(self._channels)

    def live_keys(self) -> list[str]:
        """Storage keys of the live channels (someone is attached), sorted."""
        return sorted(self._channels)

    async def ping(self) -> None:
        """Raise unless storage answers (readiness)."""
        await self._engine.ping()

    # -- storage, by key (an app's view, core/app_hub, maps its channel names to keys) -------

    def append(self, key: str, messages: list[Message],
               idempotency_keys: Sequence[str | None]) -> Awaitable[Publication]:
        """Store checked, stamped messages at the log's next position."""
        return self._engine.append(key, messages, now_ms(), idempotency_keys=idempotency_keys)

    def mutate(self, key: str, part: Message, authorize: Authorizer) -> Awaitable[Publication]:
        return self._engine.mutate(key, part, now_ms(), authorize)

    async def head(self, key: str) -> Position:
        return await self._engine.head(key)

    async def history(self, key: str, query: HistoryQuery) -> list[Message]:
        return await self._engine.history(key, query)

    async def get_message(self, key: str, serial: str) -> Message | None:
        return await self._engine.get_message(key, serial)

    async def versions(self, key: str, serial: str) -> list[Message]:
        return await self._engine.versions(key, serial)

    # -- presence -----------------------------------------------------------------------

    def presence_update(self, key: str, messages: list[PresenceMessage]) -> Awaitable[PresenceEvent]:
        return self._engine.presence_update(key, messages, now_ms())

    async def leave_connection(self, key: str, connection_id: str) -> None:
        """Server-made leaves for every member a connection has on a channel (it went, or detached)."""
        members = await self._engine.presence_members(key, connection_id=connection_id)
        if members:
            now = now_ms()
            await self._engine.presence_update(key, synthesized_leaves(members, now), now)

    async def presence_members(self, key: str, client_id: str | None = None,
                               connection_id: str | None = None) -> list[PresenceMessage]:
        return await self._engine.presence_members(key, client_id, connection_id)

    async def presence_history(self, key: str, query: HistoryQuery) -> list[PresenceMessage]:
        return await self._engine.presence_history(key, query)
