"""The engine interface: an ordered, durable log per channel plus a publication hook.

Engines own positions: `append` assigns the next position of the channel atomically, stamps
each message's `serial` and `timestamp`, and returns once the publication is durable. Every
committed publication, from this process or another one sharing the store, is handed to the
engine's bus (engine/bus), which delivers it to the processes subscribed to its channel; fan-out
is driven only by that. The bus may lose or reorder publications: each carries the position
before it in its log, so core can notice and repair a gap.

Idempotent publishing: `append` may be given one idempotency key per message (the
client-supplied message id, or None). A message whose key the channel has already stored
within the dedup window is not stored again; it comes back stamped with the serial of its
first copy. The bus only ever carries the messages that were actually stored.

Retention: engines may trim a channel's oldest messages (by age with `trim`, by count as they
append). `floor` is the highest position trimmed, so a cursor below it has lost messages.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..protocol.errors import AblyError
from ..protocol.message import Message
from ..protocol.presence import PresenceMessage
from ..protocol.serial import MAX_INDEX, Position
from .bus import Bus, LocalBus
from .presence import MemberSet, PresenceEvent, PresenceListener, presence_log
from .scope import scope_of

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Publication:
    """One committed append or mutation: all its messages share `position`.

    For a mutation, `messages` holds the live delivery (an append's fragment, or the whole
    updated message) and `aggregates` the whole message after it, for subscribers that have
    not seen the message since they attached.
    """

    channel: str
    position: Position
    messages: list[Message]
    aggregates: list[Message] | None = None
    previous: int = 0  # the seq of the log's position before this one (0: none), to detect gaps


@dataclass(slots=True)
class HistoryQuery:
    """A history read. Bounds are inclusive unless named `after`/`cursor` (exclusive)."""

    direction: Literal["backwards", "forwards"] = "backwards"
    limit: int = 100
    start: int | None = None  # ms, on message timestamp
    end: int | None = None  # ms, on message timestamp
    after: int | None = None  # position seq: only messages strictly after it
    until: int | None = None  # position seq: only messages at or before it (untilAttach)
    cursor: tuple[int, int] | None = None  # (seq, index) of the last item of the previous page


Authorizer = Callable[[Message], None]


def check_batch(messages: list[Message]) -> None:
    """A serial's index has three digits; a longer publication would break serial order."""
    if len(messages) > MAX_INDEX + 1:
        raise AblyError(40000, 400, f"At most {MAX_INDEX + 1} messages can be published at once")


class StoreInUse(RuntimeError):
    """Another process owns the store at `path`; two owners would break the serial order."""

    def __init__(self, path: object) -> None:
        super().__init__(f"{path} is in use by another engine")
        self.path = path


class Engine(ABC):
    """A channel log store with a bus for its publications."""

    def __init__(self) -> None:
        self.bus: Bus = LocalBus()  # in-process; an engine shared by processes sets its own
        self._presence_listener: PresenceListener | None = None
        self._member_sets: dict[str, MemberSet] = {}
        self._commit_observer: Callable[[float], None] | None = None

    def set_commit_observer(self, observer: Callable[[float], None]) -> None:
        """`observer(seconds)` hears how long each durable commit took (the broker's latency metric)."""
        self._commit_observer = observer

    async def ping(self) -> None:
        """Raise unless the store answers a trivial read (readiness probe)."""

    def storage_bytes(self) -> int | None:
        """Bytes the store takes on disk, or None when it keeps nothing there."""
        return None

    def presence_member_count(self) -> int:
        """Members present over all channels."""
        return sum(len(members) for members in self._member_sets.values())

    def _notify(self, publication: Publication) -> None:
        self.bus.publish(publication)

    async def open(self) -> None:
        """Prepare the store (create schema, load state)."""

    async def close(self) -> None:
        """Flush pending commits and release resources."""

    async def flush(self) -> None:
        """Return once every append started before the call has settled (for graceful shutdown)."""

    @abstractmethod
    async def append(self, channel: str, messages: list[Message], now_ms: int,
                     idempotency_keys: Sequence[str | None] | None = None) -> Publication:
        """Append `messages` as one publication at the channel's next position; durable on return.

        With `idempotency_keys`, messages whose key was stored on this channel within the dedup
        window are not stored again. The returned publication always lists the caller's
        messages in order, each stamped with its serial (a repeat with the earlier one).
        """

    @abstractmethod
    async def head(self, channel: str) -> Position:
        """The last committed position of `channel`, or the origin of its epoch when empty."""

    @abstractmethod
    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        """Messages matching `query`, ordered by (position, index) in `query.direction`.

        Each message is its latest aggregate (mutations folded in); with `query.until` set,
        only mutations at or before `until` are folded, so the result is the channel as of
        that position.
        """

    @abstractmethod
    async def mutate(self, channel: str, part: Message, now_ms: int, authorize: Authorizer) -> Publication:
        """Apply an update/delete/append `part` to the message its `serial` names.

        `authorize(original)` runs once the target is found and may raise. The mutation takes
        the channel's next position (its version serial); durable on return, like `append`.
        Unknown serial: AblyError 40400.
        """

    @abstractmethod
    async def get_message(self, channel: str, serial: str) -> Message | None:
        """The latest aggregate of one message, or None."""

    @abstractmethod
    async def versions(self, channel: str, serial: str) -> list[Message]:
        """The message as it stood after each stored version, oldest first (appends collapse)."""

    @abstractmethod
    async def replay(self, channel: str, after: int, until: int) -> list[Message]:
        """What a subscriber at `after` missed up to `until`: every message created or mutated
        in (after, until], once, as of `until`, ordered by its latest position in that range."""

    async def floor(self, channel: str) -> Position:
        """The highest position retention removed messages from (the origin when none).

        Every committed message after the floor is still stored, so a cursor at or above it
        resumes without a gap; a cursor below it has lost messages.
        """
        return Position.origin((await self.head(channel)).epoch)

    async def trim(self, now_ms: int) -> int:
        """Apply age-based retention and expire old idempotency keys; returns messages removed."""
        return 0

    @abstractmethod
    async def drop_scope(self, scope: str) -> int:
        """Delete every log in `scope` (engine/scope.scope_of) with its versions, idempotency keys
        and presence members; returns the messages removed. Positions are never reused: each
        log's floor rises to its head, so a cursor from before the drop is a discontinuity."""

    def _drop_members(self, scope: str) -> None:
        for key in [k for k in self._member_sets if scope_of(k) == scope]:
            del self._member_sets[key]

    # -- presence: single-process default; an engine shared by processes overrides all four --

    def set_presence_listener(self, listener: PresenceListener) -> None:
        self._presence_listener = listener

    async def presence_update(self, channel: str, messages: list[PresenceMessage], now_ms: int) -> PresenceEvent:
        """Apply member events (clientId and connectionId set) in call order, log them, then notify.

        The member set changes at once, so the order of calls is the order of events; events
        that change nothing (leaving when absent) are dropped. The returned and notified
        messages are stamped with the log's timestamp and serial once the log entry is durable.
        A failed history write is logged, not raised: the member set is live state and has
        already changed.
        """
        members = self._member_sets.setdefault(channel, MemberSet())
        changed = [m for m in messages if members.apply(m) is not None]
        if not members:
            del self._member_sets[channel]
        if not changed:
            return PresenceEvent(channel, None, [])
        for message in changed:
            message.timestamp = now_ms
        entries = [m.to_message() for m in changed]
        position: Position | None = None
        try:
            position = (await self.append(presence_log(channel), entries, now_ms)).position
            for message, entry in zip(changed, entries):
                message.timestamp, message.serial = entry.timestamp, entry.serial
        except AblyError as exc:
            log.error("presence history of %s not stored: %s", channel, exc.message)
        event = PresenceEvent(channel, position, changed)
        if self._presence_listener is not None:
            self._presence_listener(event)
        return event

    async def presence_members(self, channel: str, client_id: str | None = None,
                               connection_id: str | None = None) -> list[PresenceMessage]:
        """Current members of `channel` (optionally one clientId and/or connectionId), in entry order."""
        members = self._member_sets.get(channel)
        return members.select(client_id, connection_id) if members is not None else []

    async def presence_history(self, channel: str, query: HistoryQuery) -> list[PresenceMessage]:
        """Presence events of `channel`, paged and bounded like message history."""
        return [PresenceMessage.from_message(m) for m in await self.history(presence_log(channel), query)]
