"""ACK/NACK in msgSerial order, whatever order the work behind them finishes in."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..protocol.actions import Action
from ..protocol.errors import AblyError

RECENT_RESULTS = 2048

Result = dict[str, Any] | AblyError


@dataclass(slots=True)
class _Slot:
    msg_serial: int
    result: Result | None = None


class AckQueue:
    """Holds one slot per acknowledged ProtocolMessage; sends contiguous ACKs as heads resolve.

    Remembers recent results so a ProtocolMessage re-sent after a resume is answered again
    instead of being published twice.
    """

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send = send
        self._slots: deque[_Slot] = deque()
        self._recent: OrderedDict[int, Result] = OrderedDict()
        self._waiting: dict[int, list[_Slot]] = {}

    def add(self, msg_serial: int) -> _Slot:
        slot = _Slot(msg_serial)
        self._slots.append(slot)
        return slot

    def known(self, msg_serial: int) -> bool:
        """True when `msg_serial` was seen before: answer it again rather than re-run it."""
        if msg_serial in self._recent:
            self._slots.append(_Slot(msg_serial, self._recent[msg_serial]))
            self.drain()
            return True
        for slot in self._slots:
            if slot.msg_serial == msg_serial:
                self._waiting.setdefault(msg_serial, []).append(self.add(msg_serial))
                return True
        return False

    def resolve(self, slot: _Slot, result: Result) -> None:
        slot.result = result
        self._recent[slot.msg_serial] = result
        if len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)
        for waiter in self._waiting.pop(slot.msg_serial, ()):
            waiter.result = result
        self.drain()

    def drain(self) -> None:
        while self._slots and self._slots[0].result is not None:
            head = self._slots.popleft()
            result = head.result
            if isinstance(result, AblyError):
                self._send({"action": Action.NACK, "msgSerial": head.msg_serial, "count": 1, "error": result.to_wire()})
                continue
            res = [result]
            last = head.msg_serial
            while (self._slots and isinstance(self._slots[0].result, dict)
                   and self._slots[0].msg_serial == last + 1):
                nxt = self._slots.popleft()
                res.append(nxt.result)  # type: ignore[arg-type]
                last = nxt.msg_serial
            self._send({"action": Action.ACK, "msgSerial": head.msg_serial, "count": len(res), "res": res})

    def reset(self) -> None:
        """A new connectionId restarts msgSerials at 0: forget everything."""
        self._slots.clear()
        self._recent.clear()
        self._waiting.clear()
