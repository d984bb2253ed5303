"""ACK/NACK in msgSerial order, whatever order the work behind them finishes in.

ably-js settles its pending publishes from the head of its queue: an ACK `{msgSerial: N,
count: C, res}` completes every queued message up to N+C-1 and hands `res[i]` to the i-th one
it removes, whatever that message's serial. An ACK that repeats serials the client has already
settled therefore hands the wrong results to later messages. So on one transport every
msgSerial is answered exactly once, in the order the client sent them.

Across a resume the client re-sends every message it has no ACK for, with its original
msgSerial. Work is tracked by msgSerial, independently of who is owed the answer: a re-sent
message is never run twice; it is answered from the remembered result, or when the first run
finishes. On a new transport (`transport_changed`) answers owed to the old one are dropped,
because the client re-sends exactly the ones it did not get.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..observe.metrics import Metrics
from ..protocol.actions import Action
from ..protocol.errors import AblyError

RECENT_RESULTS = 2048

Result = dict[str, Any] | AblyError


@dataclass(eq=False, slots=True)
class _Slot:
    """One answer owed to the client (or, for the first run, the work behind it)."""

    msg_serial: int
    result: Result | None = None


class AckQueue:
    def __init__(self, send: Callable[[dict[str, Any]], None], metrics: Metrics) -> None:
        self._send = send
        self._metrics = metrics
        self._owed: deque[_Slot] = deque()
        self._recent: OrderedDict[int, Result] = OrderedDict()
        self._running: dict[int, list[_Slot]] = {}
        self._settled: asyncio.Event | None = None
        self._drain_scheduled = False

    @property
    def running(self) -> int:
        """ProtocolMessages whose work has not finished yet."""
        return len(self._running)

    def known(self, msg_serial: int) -> bool:
        """True when `msg_serial` was seen before: it is answered again rather than re-run."""
        if msg_serial in self._recent:
            self._owed.append(_Slot(msg_serial, self._recent[msg_serial]))
            self.drain()
            return True
        waiting = self._running.get(msg_serial)
        if waiting is not None:
            slot = _Slot(msg_serial)
            waiting.append(slot)
            self._owed.append(slot)
            return True
        return False

    def add(self, msg_serial: int) -> _Slot:
        """Start the work for a new msgSerial; `resolve` the returned slot when it finishes."""
        slot = _Slot(msg_serial)
        self._running[msg_serial] = [slot]
        self._owed.append(slot)
        return slot

    def resolve(self, slot: _Slot, result: Result) -> None:
        self._recent[slot.msg_serial] = result
        if len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)
        for waiting in self._running.pop(slot.msg_serial, [slot]):
            waiting.result = result
        if not self._running and self._settled is not None:
            self._settled.set()
        if not self._drain_scheduled:  # one ACK frame for everything a group commit finished
            self._drain_scheduled = True
            asyncio.get_running_loop().call_soon(self.drain)

    def transport_changed(self) -> None:
        """A new transport: nothing owed to the old one is sent; running work stays tracked."""
        self._owed.clear()
        for waiting in self._running.values():
            del waiting[1:]

    async def settled(self) -> None:
        """Return once no work is running (graceful shutdown waits for it)."""
        if self._running:
            if self._settled is None:
                self._settled = asyncio.Event()
            self._settled.clear()
            await self._settled.wait()
        self.drain()

    def drain(self) -> None:
        self._drain_scheduled = False
        while self._owed and self._owed[0].result is not None:
            head = self._owed.popleft()
            result = head.result
            if isinstance(result, AblyError):
                self._metrics.nack(result.code)
                self._send({"action": Action.NACK, "msgSerial": head.msg_serial, "count": 1, "error": result.to_wire()})
                continue
            res = [result]
            last = head.msg_serial
            while (self._owed and isinstance(self._owed[0].result, dict)
                   and self._owed[0].msg_serial == last + 1):
                nxt = self._owed.popleft()
                res.append(nxt.result)  # type: ignore[arg-type]
                last = nxt.msg_serial
            self._metrics.acks += len(res)
            self._send({"action": Action.ACK, "msgSerial": head.msg_serial, "count": len(res), "res": res})

    def reset(self) -> None:
        """A new connectionId restarts msgSerials at 0: forget everything."""
        self._owed.clear()
        self._recent.clear()
        self._running.clear()
        if self._settled is not None:
            self._settled.set()
