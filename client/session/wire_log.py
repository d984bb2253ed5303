"""A node's event log, kept in serial order so the node can be refolded when a wire arrives late."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..codec.types import CodecEvent, Event

Direction = Literal["input", "output"]

Fold = Literal["dropped", "incremental", "refold"]


@dataclass(slots=True)
class _Entry:
    """One wire's events. A wire is one direction only; the events are kept as the decoder's plain
    dicts, not `CodecEvent`s: a streamed reply logs one per token per node, and a flat dict of
    strings is invisible to the cyclic GC where a dataclass is not (50,000 of those in a worker
    made full collections of 25 ms)."""

    serial: str
    message_id: str | None
    direction: Direction
    events: list[Event]
    decoded_through: str  # highest version folded for this serial (the tree-level replay guard)


@dataclass(slots=True)
class WireLog:
    entries: list[_Entry] = field(default_factory=list)
    swept: bool = False

    def record(self, serial: str, message_id: str | None, events: list[CodecEvent], version: str | None,
               streamed: bool) -> Fold:
        """Insert at the wire's serial position: "dropped" for a replay, "refold" if it landed before the tail."""
        index = self._record(serial, message_id, [] if self.swept else events, version, streamed)
        if index is None:
            return "dropped"
        if self.swept:
            return "incremental"
        return "incremental" if index == len(self.entries) - 1 else "refold"

    def replay(self, visit: Callable[[CodecEvent, str, str | None], None]) -> None:
        for entry in self.entries:
            for event in entry.events:
                visit(CodecEvent(entry.direction, event), entry.serial, entry.message_id)

    def sweep(self) -> None:
        """Drop the payloads (keep the replay keys) once the reorder window has passed."""
        self.swept = True
        for entry in self.entries:
            entry.events.clear()

    def _record(self, serial: str, message_id: str | None, events: list[CodecEvent], version: str | None,
                streamed: bool) -> int | None:
        for i in range(len(self.entries) - 1, -1, -1):
            entry = self.entries[i]
            if entry.serial == serial:
                if version is not None and (version <= entry.decoded_through or not streamed):
                    return None
                entry.events.extend([e.event for e in events])
                if version is not None:
                    entry.decoded_through = version
                return i
            if entry.serial < serial:
                self.entries.insert(i + 1, _new_entry(serial, message_id, events, version))
                return i + 1
        self.entries.insert(0, _new_entry(serial, message_id, events, version))
        return 0


def _new_entry(serial: str, message_id: str | None, events: list[CodecEvent], version: str | None) -> _Entry:
    direction: Direction = events[0].direction if events else "output"
    return _Entry(serial, message_id, direction, [e.event for e in events], version or serial)
