"""ProtocolMessages awaiting ACK/NACK, in msgSerial order.

The client owns msgSerial: one per acknowledged ProtocolMessage, assigned when first sent,
kept across a successful resume (the server dedupes and re-ACKs), and reassigned from 0 when
the connection changes identity (new connection or failed resume). Serials are assigned in
queue order, so an ACK always completes a prefix of the queue.

One ProtocolMessage may carry the messages of several `publish()` calls made in the same
loop iteration (a bundle); each caller is a Part and gets its own slice of the ACK's serials.

Every entry has the same time limit, so deadlines follow queue order and one timer, armed
for the oldest entry, enforces them all (a timer per publish costs more than the publish).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..errors import AblyError, timed_out

log = logging.getLogger(__name__)

Serials = list[str | None]


@dataclass(slots=True, eq=False)
class Part:
    """One caller's messages inside a ProtocolMessage: `count` messages from index `start`."""

    future: asyncio.Future[Serials]
    start: int
    count: int


@dataclass(slots=True, eq=False)
class Pending:
    frame: dict[str, Any]
    deadline: float
    parts: list[Part] = field(default_factory=list)
    size: int = 0  # message bytes, for bundling under maxMessageSize
    msg_serial: int | None = None

    def waiting(self) -> bool:
        return any(not part.future.done() for part in self.parts)

    def resolve(self, result: Any) -> None:
        serials = result.get("serials") if isinstance(result, dict) else None
        for part in self.parts:
            if not part.future.done():
                part.future.set_result(list(serials[part.start:part.start + part.count])
                                       if isinstance(serials, list) else [])

    def reject(self, error: AblyError) -> None:
        for part in self.parts:
            if not part.future.done():
                part.future.set_exception(error)


class PendingQueue:
    def __init__(self, timeout: float) -> None:
        self._entries: deque[Pending] = deque()
        self.next_serial = 0
        self._timeout = timeout
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, frame: dict[str, Any], count: int, size: int = 0) -> tuple[Pending, asyncio.Future[Serials]]:
        loop = asyncio.get_running_loop()
        entry = Pending(frame, loop.time() + self._timeout, size=size)
        future: asyncio.Future[Serials] = loop.create_future()
        entry.parts.append(Part(future, 0, count))
        self._entries.append(entry)
        if self._timer is None:
            self._timer = loop.call_at(entry.deadline, self._expire)
        return entry, future

    @staticmethod
    def join(entry: Pending, messages: list[dict[str, Any]], size: int) -> asyncio.Future[Serials]:
        """Add another caller's messages to an entry that has not been sent yet."""
        assert entry.msg_serial is None
        bundle = entry.frame["messages"]
        future: asyncio.Future[Serials] = asyncio.get_running_loop().create_future()
        entry.parts.append(Part(future, len(bundle), len(messages)))
        bundle.extend(messages)
        entry.size += size
        return future

    def _expire(self) -> None:
        """Fail entries past their deadline; sent ones stay queued to keep msgSerial accounting."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        keep: deque[Pending] = deque()
        for entry in self._entries:
            if entry.deadline <= now and entry.waiting():
                if entry.msg_serial is None:
                    entry.reject(timed_out("the connection (the message was not sent)", self._timeout))
                    continue
                entry.reject(AblyError(50003, 504,
                                       f"No ACK within {self._timeout:g}s; the message may still be delivered"))
            keep.append(entry)
        self._entries = keep
        waiting = [e.deadline for e in keep if e.waiting()]
        if waiting:
            self._timer = loop.call_at(min(waiting), self._expire)

    def number(self, entry: Pending) -> dict[str, Any]:
        """Give an unsent entry the next msgSerial; returns the frame to send."""
        if entry.msg_serial is None:
            entry.msg_serial = self.next_serial
            self.next_serial += 1
        frame = dict(entry.frame)
        frame["msgSerial"] = entry.msg_serial
        return frame

    def to_send_after_connect(self, resumed: bool) -> list[dict[str, Any]]:
        """Frames to (re)send on CONNECTED: original serials if resumed, renumbered from 0 if not.

        Entries whose callers all stopped waiting are dropped when nothing ties them to a serial.
        """
        if not resumed:
            self.next_serial = 0
            for entry in self._entries:
                entry.msg_serial = None
        self._entries = deque(e for e in self._entries if e.msg_serial is not None or e.waiting())
        return [self.number(entry) for entry in self._entries]

    def ack(self, serial: int, count: int, results: list[Any] | None) -> None:
        self._complete(serial, count, results, None)

    def nack(self, serial: int, count: int, error: AblyError) -> None:
        self._complete(serial, count, None, error)

    def _complete(self, serial: int, count: int, results: list[Any] | None, error: AblyError | None) -> None:
        end = serial + count
        entries = self._entries
        while entries and entries[0].msg_serial is not None and entries[0].msg_serial < end:
            entry = entries.popleft()
            assert entry.msg_serial is not None
            if entry.msg_serial < serial:
                log.warning("Server acknowledged up to %d but skipped msgSerial %d", end - 1, entry.msg_serial)
                entry.reject(AblyError(50001, 500, "The server skipped this message's acknowledgement"))
            elif error is not None:
                entry.reject(error)
            else:
                index = entry.msg_serial - serial
                entry.resolve(results[index] if results is not None and index < len(results) else None)

    def fail_all(self, error: AblyError) -> None:
        """Give up on everything (connection suspended, closed or failed)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        entries, self._entries = self._entries, deque()
        for entry in entries:
            entry.reject(error)
