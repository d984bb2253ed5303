"""The only surface the session layer needs from a realtime client (so it can run on any Ably client).

`SessionChannel` is what a session is given; `RealtimeSessionChannel` (adapter.py) implements it
on Tether's `client.realtime`. Another client (e.g. ably-python) needs only an adapter with the
same shape: publish returning serials, append/update that forward `extras`, a message listener,
state changes carrying `resumed`, `history(until_attach=True)` and presence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from ..types import (
    ChannelStateChange,
    Message,
    PresenceMessage,
    PublishResult,
    UpdateDeleteResult,
)

Unsubscribe = Callable[[], None]


class HistoryPage(Protocol):
    """One page of history, newest first."""

    items: list[Message]

    def has_next(self) -> bool: ...

    async def next(self) -> HistoryPage | None: ...


class SessionPresence(Protocol):
    async def enter(self, data: Any = None) -> None: ...

    async def update(self, data: Any = None) -> None: ...

    async def leave(self, data: Any = None) -> None: ...

    async def get(self) -> list[PresenceMessage]: ...

    async def subscribe(self, listener: Callable[[PresenceMessage], None]) -> Unsubscribe: ...


class SessionChannel(Protocol):
    """A realtime channel as the session uses it.

    Ordering contract: `publish`, `append_message` and `update_message` must hand their message
    to the connection before their first suspension, so calls scheduled as tasks in order reach
    the channel in that order (a stream's appends depend on it). Append and update must forward
    `extras` (an append replaces them wholesale). Every delivery carries `action`, `serial`,
    `version.serial`, the publisher's `client_id` and `timestamp`; the client's own messages are
    echoed back.
    """

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> str:
        """The channel state's name: "attached", "attaching", "detached", "suspended", "failed", …"""
        ...

    @property
    def client_id(self) -> str | None:
        """The connection's authenticated clientId (None if anonymous)."""
        ...

    @property
    def presence(self) -> SessionPresence: ...

    async def attach(self) -> None: ...

    async def detach(self) -> None: ...

    async def subscribe(self, listener: Callable[[Message], None]) -> Unsubscribe:
        """Deliver every message to `listener` (synchronously, in order), attaching the channel."""
        ...

    def on_state_change(self, listener: Callable[[ChannelStateChange], None]) -> Unsubscribe: ...

    async def publish(self, messages: Message | Sequence[Message]) -> PublishResult: ...

    def append_message(self, message: Message) -> Awaitable[UpdateDeleteResult]: ...

    def update_message(self, message: Message) -> Awaitable[UpdateDeleteResult]: ...

    async def history(self, *, limit: int, until_attach: bool) -> HistoryPage: ...
