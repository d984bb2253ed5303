"""One app's view of the Hub: what realtime and REST call, in the channel names clients use.

Every channel of an app is stored under `scoped(app_id, name)` (engine/scope), so two apps'
channels of the same name never share a log, presence set, idempotency key, annotation or live
channel. The checks (capability, channel rules, sizes) and error messages use the plain name;
frames carry each attachment's own channel string, so no client ever sees a storage key.
Logs written before keys were scoped (no scope prefix) belong to no app: they stay in the
store, untouched, and no app reads them (docs/apps.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from ..auth import AuthContext
from ..engine.base import HistoryQuery, Publication
from ..engine.presence import PresenceEvent
from ..engine.scope import scoped, split_scoped
from ..observe.metrics import Metrics
from ..protocol.annotation import Annotation
from ..protocol.errors import AblyError
from ..protocol.message import Message
from ..protocol.presence import PresenceMessage
from ..protocol.serial import Position
from .annotations import AnnotationHub, AnnotationSubscription
from .channel import Channel, now_ms
from .ephemeral import ephemeral_batch, is_ephemeral, publish_ephemeral
from .mutate import prepare_mutation
from .presence import PresenceHub, PresenceSubscription
from .publish import prepare_presence, prepare_publish, stamp_messages
from .rules import ChannelRules

if TYPE_CHECKING:
    from .hub import Hub


class AppPresence:
    """Presence subscriptions of one app's channels."""

    def __init__(self, presence: PresenceHub, app_id: str) -> None:
        self._presence = presence
        self._app_id = app_id

    def subscriber_count(self, channel: str) -> int:
        return self._presence.subscriber_count(scoped(self._app_id, channel))

    def add(self, channel: str, sub: PresenceSubscription) -> None:
        self._presence.add(scoped(self._app_id, channel), sub)

    def remove(self, channel: str, sub: PresenceSubscription) -> None:
        self._presence.remove(scoped(self._app_id, channel), sub)

    def go_live(self, channel: str, sub: PresenceSubscription) -> None:
        self._presence.go_live(scoped(self._app_id, channel), sub)


class AppAnnotations:
    """Annotations of one app's channels."""

    def __init__(self, annotations: AnnotationHub, app_id: str) -> None:
        self._annotations = annotations
        self._app_id = app_id

    def add(self, channel: str, key: object, sub: AnnotationSubscription) -> None:
        self._annotations.add(scoped(self._app_id, channel), key, sub)

    def remove(self, channel: str, key: object) -> None:
        self._annotations.remove(scoped(self._app_id, channel), key)

    async def publish(self, channel: str, annotations: list[Annotation], now: int) -> list[Annotation]:
        return await self._annotations.publish(scoped(self._app_id, channel), annotations, now)

    async def list(self, channel: str, message_serial: str, query: HistoryQuery) -> list[Annotation]:
        return await self._annotations.list(scoped(self._app_id, channel), message_serial, query)

    async def with_summaries(self, channel: str, messages: list[Message]) -> list[Message]:
        return await self._annotations.with_summaries(scoped(self._app_id, channel), messages)


class AppHub:
    def __init__(self, hub: Hub, app_id: str) -> None:
        self.app_id = app_id
        self._hub = hub
        self.presence = AppPresence(hub.presence, app_id)
        self.annotations = AppAnnotations(hub.annotations, app_id)

    @property
    def metrics(self) -> Metrics:
        return self._hub.metrics

    @property
    def rules(self) -> ChannelRules:
        """This app's channel rules (a provisioned app's namespaces, else the broker's)."""
        return self._hub.rules_of(self.app_id)

    def key(self, channel: str) -> str:
        """The storage key of one of this app's channels."""
        return scoped(self.app_id, channel)

    # -- live channels ------------------------------------------------------------------

    def channel(self, name: str) -> Channel:
        return self._hub.channel(self.key(name))

    def get(self, name: str) -> Channel | None:
        return self._hub.get(self.key(name))

    def release(self, name: str) -> None:
        self._hub.release(self.key(name))

    def live_names(self) -> list[str]:
        """This app's live channels (someone is attached), sorted: Ably's channel enumeration."""
        names = (split_scoped(key) for key in self._hub.live_keys())
        return [name for scope, name in names if scope == self.app_id]

    # -- messages -----------------------------------------------------------------------

    def publish(self, channel: str, messages: Sequence[Message], auth: AuthContext, client_id: str | None,
                max_size: int, *, id_base: str,
                connection_id: str | None) -> Awaitable[Publication | list[Message]]:
        """Check and stamp now (AblyError raises here), and start the append: the awaitable gives
        the committed publication (each message's serial, a repeat's the first copy's), or for an
        ephemeral batch the messages delivered live and never stored (no serials)."""
        self._own(auth)
        ephemeral = ephemeral_batch(messages)
        size = prepare_publish(messages, channel, auth, client_id, max_size)
        metrics = self._hub.metrics
        if connection_id is None:
            metrics.rest_messages_in += len(messages)
            metrics.rest_message_bytes_in += size
        else:
            metrics.realtime_messages_in += len(messages)
            metrics.realtime_message_bytes_in += size
        keys = stamp_messages(messages, id_base, connection_id)
        if ephemeral:
            return publish_ephemeral(self._hub, self.key(channel), list(messages), now_ms())
        return self._hub.append(self.key(channel), list(messages), keys)

    def mutate(self, channel: str, request: Message, auth: AuthContext, client_id: str | None,
               max_size: int) -> Awaitable[Publication]:
        """An update, delete or append of the message `request.serial` names; checked like `publish`
        (AblyError raises here), authorised against the original once storage finds it."""
        self._own(auth)
        if is_ephemeral(request):
            raise AblyError(40003, 400, "An update, delete or append cannot be ephemeral")
        part, authorize = prepare_mutation(request, channel, auth, client_id, self.rules, max_size)
        return self._hub.mutate(self.key(channel), part, authorize)

    async def head(self, channel: str) -> Position:
        return await self._hub.head(self.key(channel))

    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        return await self._hub.history(self.key(channel), query)

    async def get_message(self, channel: str, serial: str) -> Message | None:
        return await self._hub.get_message(self.key(channel), serial)

    async def versions(self, channel: str, serial: str) -> list[Message]:
        return await self._hub.versions(self.key(channel), serial)

    # -- presence -----------------------------------------------------------------------

    def enter_presence(self, channel: str, messages: list[PresenceMessage], auth: AuthContext,
                       client_id: str | None, connection_id: str, id_base: str,
                       max_size: int) -> Awaitable[PresenceEvent]:
        """Member events from a connection: identity stamped now (AblyError raises here), applied
        when awaited."""
        self._own(auth)
        self._hub.metrics.presence_messages_in += len(messages)
        self._hub.metrics.presence_message_bytes_in += prepare_presence(messages, auth, client_id, connection_id,
                                                                        id_base, max_size)
        return self._hub.presence_update(self.key(channel), messages)

    async def leave_connection(self, channel: str, connection_id: str) -> None:
        await self._hub.leave_connection(self.key(channel), connection_id)

    async def presence_members(self, channel: str, client_id: str | None = None,
                               connection_id: str | None = None) -> list[PresenceMessage]:
        return await self._hub.presence_members(self.key(channel), client_id, connection_id)

    async def presence_history(self, channel: str, query: HistoryQuery) -> list[PresenceMessage]:
        return await self._hub.presence_history(self.key(channel), query)

    def _own(self, auth: AuthContext) -> None:
        """Defence in depth: a credential acts only on its own app's channels."""
        if auth.app_id != self.app_id:
            raise AblyError(40101, 401, "The credential belongs to another app")
