"""An in-process engine: nothing survives a restart, so each start is a new epoch."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ..protocol.message import Message
from ..protocol.serial import Position, next_seq
from .base import Engine, HistoryQuery, Publication, check_batch
from .epoch import new_epoch
from .query import select


@dataclass(slots=True)
class _Log:
    seqs: list[int] = field(default_factory=list)
    items: list[tuple[int, int, Message]] = field(default_factory=list)
    last_seq: int = 0


class MemoryEngine(Engine):
    def __init__(self) -> None:
        super().__init__()
        self.epoch = new_epoch()
        self._logs: dict[str, _Log] = {}

    async def append(self, channel: str, messages: list[Message], now_ms: int) -> Publication:
        check_batch(messages)
        log = self._logs.setdefault(channel, _Log())
        log.last_seq = next_seq(log.last_seq, now_ms)
        position = Position(log.last_seq, self.epoch)
        for index, message in enumerate(messages):
            message.serial = position.serial(index)
            message.timestamp = position.ms
            log.seqs.append(log.last_seq)
            log.items.append((log.last_seq, index, message))
        publication = Publication(channel, position, messages)
        self._notify(publication)
        return publication

    async def head(self, channel: str) -> Position:
        log = self._logs.get(channel)
        return Position(log.last_seq if log else 0, self.epoch)

    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        log = self._logs.get(channel)
        if log is None:
            return []
        low = bisect.bisect_right(log.seqs, query.after) if query.after is not None else 0
        return select(log.items[low:], query)
