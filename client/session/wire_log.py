"""A node's event log, kept in serial order so the node can be refolded when a wire arrives late."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..codec.types import CodecEvent

Fold = Literal["dropped", "incremental", "refold"]


@dataclass(slots=True)
class _Entry:
    serial: str
    message_id: str | None
    events: list[CodecEvent]
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
                visit(event, entry.serial, entry.message_id)

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
                entry.events.extend(events)
                if version is not None:
                    entry.decoded_through = version
                return i
            if entry.serial < serial:
                self.entries.insert(i + 1, _Entry(serial, message_id, list(events), version or serial))
                return i + 1
        self.entries.insert(0, _Entry(serial, message_id, list(events), version or serial))
        return 0
