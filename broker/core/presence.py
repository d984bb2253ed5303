"""Presence fan-out: member events to attachments, SYNC pages for attachers, server-made leaves.

Events come from the engine's presence hook (so members entered through another process sharing
the engine reach local attachments too). Like message fan-out, events committed in one loop
iteration go out as one PRESENCE per (channel string, format), encoded and framed once. A
subscription registers *before* its SYNC snapshot is read and buffers events until its ATTACHED
has been sent, so no event falls between the snapshot and live delivery; an event that is also
in the snapshot is harmless, because clients keep the newer of two messages by id (RTP2b).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.base import Engine
from ..engine.presence import PresenceEvent
from ..protocol.actions import Action, PresenceAction
from ..protocol.presence import PresenceMessage
from ..protocol.serial import Position
from ..protocol.wire import Format, encode
from .frames import Framer

SYNC_PAGE = 100
SYNC_PAGE_BYTES = 256 * 1024


@dataclass(eq=False, slots=True)
class PresenceSubscription:
    """One attachment's view of presence: every event (PRESENCE_SUBSCRIBE) or only its own (RTP17a)."""

    write: Callable[[bytes], None]
    fmt: Format
    wire_name: str
    connection_id: str
    everyone: bool
    owner: object = None
    live: bool = False
    buffer: list[PresenceMessage] = field(default_factory=list)

    def wants(self, messages: list[PresenceMessage]) -> list[PresenceMessage]:
        return messages if self.everyone else [m for m in messages if m.connection_id == self.connection_id]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def presence_frame(channel: str, messages: list[PresenceMessage], fmt: Format,
                   position: Position | None) -> dict[str, Any]:
    """One PRESENCE ProtocolMessage; `channelSerial` is the message position delivered so far, when known."""
    frame: dict[str, Any] = {"action": Action.PRESENCE, "channel": channel, "timestamp": now_ms(),
                             "presence": [m.to_wire(fmt) for m in messages]}
    if position is not None:
        frame["channelSerial"] = str(position)
    return frame


def new_sync_id() -> str:
    """Matches `[A-Za-z0-9_-]+`, as ably-js parses `<syncId>:<cursor>`."""
    return secrets.token_urlsafe(8)


def sync_frames(channel: str, members: list[PresenceMessage], fmt: Format, sync_id: str | None = None,
                page: int = SYNC_PAGE, page_bytes: int = SYNC_PAGE_BYTES) -> list[dict[str, Any]]:
    """SYNC pages of `members` as `present`; every page has a `presence` array, the last an empty cursor."""
    sync_id = sync_id or new_sync_id()
    pages: list[list[PresenceMessage]] = [[]]
    size = 0
    for member in members:
        if pages[-1] and (len(pages[-1]) >= page or size + member.size > page_bytes):
            pages.append([])
            size = 0
        pages[-1].append(member)
        size += member.size
    out = []
    for number, chunk in enumerate(pages, start=1):
        cursor = str(number) if number < len(pages) else ""
        out.append({"action": Action.SYNC, "channel": channel, "channelSerial": f"{sync_id}:{cursor}",
                    "presence": [m.to_wire(fmt, PresenceAction.PRESENT) for m in chunk]})
    return out


def synthesized_leaves(members: list[PresenceMessage], now: int) -> list[PresenceMessage]:
    """Leaves the server makes for members whose connection went away or detached.

    Their ids do not start with the member's connectionId, so clients order them against the
    member's last message by timestamp (RTP2b1) rather than by a msgSerial we would have to invent.
    """
    base = f"leave-{secrets.token_urlsafe(6).replace('-', 'x').replace('_', 'y')}"
    return [PresenceMessage(action=PresenceAction.LEAVE, client_id=m.client_id, connection_id=m.connection_id,
                            data=m.data, encoding=m.encoding, id=f"{base}:0:{index}", timestamp=now)
            for index, m in enumerate(members)]


class PresenceHub:
    """Presence subscriptions by channel, fed by the engine's presence hook."""

    def __init__(self, engine: Engine, framer: Framer, position_of: Callable[[str], Position | None]) -> None:
        self._framer = framer
        self._position_of = position_of
        self._subs: dict[str, dict[PresenceSubscription, None]] = {}
        self._queue: dict[str, list[PresenceMessage]] = {}
        self._flush_scheduled = False
        engine.set_presence_listener(self._on_event)

    def subscriber_count(self, channel: str) -> int:
        return sum(1 for sub in self._subs.get(channel, ()) if sub.everyone)

    def add(self, channel: str, sub: PresenceSubscription) -> None:
        """Register buffering; `go_live` once ATTACHED (and any SYNC) has been sent."""
        sub.live = False
        sub.buffer = []
        self._subs.setdefault(channel, {})[sub] = None

    def remove(self, channel: str, sub: PresenceSubscription) -> None:
        subs = self._subs.get(channel)
        if subs is not None:
            subs.pop(sub, None)
            if not subs:
                del self._subs[channel]

    def go_live(self, channel: str, sub: PresenceSubscription) -> None:
        pending, sub.buffer = sub.buffer, []
        sub.live = True
        if pending:
            frame = presence_frame(sub.wire_name, pending, sub.fmt, self._position_of(channel))
            sub.write(self._framer(encode(frame, sub.fmt), sub.fmt))

    def _on_event(self, event: PresenceEvent) -> None:
        if not event.messages or event.channel not in self._subs:
            return
        self._queue.setdefault(event.channel, []).extend(event.messages)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """After the message flushes queued before it, so `channelSerial` never runs ahead of delivery."""
        self._flush_scheduled = False
        queue, self._queue = self._queue, {}
        for channel, messages in queue.items():
            position = self._position_of(channel)
            frames: dict[tuple[str, Format], bytes] = {}
            for sub in list(self._subs.get(channel, ())):
                wanted = sub.wants(messages)
                if not wanted:
                    continue
                if not sub.live:
                    sub.buffer.extend(wanted)
                    continue
                key = (sub.wire_name, sub.fmt)
                frame = frames.get(key) if sub.everyone else None
                if frame is None:
                    frame = self._framer(encode(presence_frame(sub.wire_name, wanted, sub.fmt, position), sub.fmt),
                                         sub.fmt)
                    if sub.everyone:
                        frames[key] = frame
                sub.write(frame)
