"""An in-process engine: nothing survives a restart, so each start is a new epoch."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..protocol.actions import MessageAction
from ..protocol.errors import not_found
from ..protocol.message import Message
from ..protocol.serial import COUNTER_LIMIT, Position, next_seq, seq_of_serial
from .base import Authorizer, Engine, HistoryQuery, Publication, check_batch
from .dedup import DEFAULT_WINDOW_MS, DedupIndex
from .epoch import new_epoch
from .mutations import check_appendable, delivery, fold, stamp_part, stored_form, versions_of
from .query import select
from .retention import RetentionPolicy
from .scope import plain_name, scope_of


@dataclass(slots=True)
class _Log:
    seqs: list[int] = field(default_factory=list)
    items: list[tuple[int, int, Message]] = field(default_factory=list)
    last_seq: int = 0
    originals: dict[str, Message] = field(default_factory=dict)
    parts: dict[str, list[Message]] = field(default_factory=dict)  # serial -> parts, version order
    part_seqs: list[int] = field(default_factory=list)  # every part's seq, in order
    part_targets: list[str] = field(default_factory=list)
    current: dict[str, Message] = field(default_factory=dict)  # latest aggregate of mutated messages
    floor: int = 0  # highest seq retention removed messages from

    def drop_oldest(self, count: int) -> int:
        """Remove the `count` oldest messages and their versions (retention)."""
        if count <= 0:
            return 0
        dropped = self.items[:count]
        del self.items[:count]
        del self.seqs[:count]
        gone = {message.serial for _, _, message in dropped}
        for serial in gone:
            self.originals.pop(serial, None)  # type: ignore[arg-type]
            self.parts.pop(serial, None)  # type: ignore[arg-type]
            self.current.pop(serial, None)  # type: ignore[arg-type]
        if gone.intersection(self.part_targets):
            kept = [(seq, target) for seq, target in zip(self.part_seqs, self.part_targets) if target not in gone]
            self.part_seqs = [seq for seq, _ in kept]
            self.part_targets = [target for _, target in kept]
        self.floor = max(self.floor, dropped[-1][0])
        return len(dropped)

    def as_of(self, message: Message, until: int | None) -> Message:
        assert message.serial is not None
        if until is None:
            return self.current.get(message.serial, message)
        for part in self.parts.get(message.serial, ()):
            if seq_of_serial(part.version["serial"]) > until:  # type: ignore[index]
                break
            message = fold(message, part)
        return message


class MemoryEngine(Engine):
    def __init__(self, *, retention: RetentionPolicy | None = None, dedup_window_ms: int = DEFAULT_WINDOW_MS) -> None:
        super().__init__()
        self.epoch = new_epoch()
        self.retention = retention or RetentionPolicy()
        self._logs: dict[str, _Log] = {}
        self._dedup = DedupIndex(dedup_window_ms)

    async def append(self, channel: str, messages: list[Message], now_ms: int,
                     idempotency_keys: Sequence[str | None] | None = None) -> Publication:
        check_batch(messages)
        claim = self._dedup.claim(channel, messages, idempotency_keys, now_ms)
        fresh = self._store(channel, claim.fresh, now_ms) if claim.fresh else None
        if fresh is not None:
            self._dedup.committed(claim)
            if not claim.repeats:
                return fresh
        return await self._dedup.outcome(claim, fresh)

    def _store(self, channel: str, messages: list[Message], now_ms: int) -> Publication:
        log = self._logs.setdefault(channel, _Log())
        previous, log.last_seq = log.last_seq, next_seq(log.last_seq, now_ms)
        position = Position(log.last_seq, self.epoch)
        for index, message in enumerate(messages):
            message.serial = position.serial(index)
            message.timestamp = position.ms
            log.seqs.append(log.last_seq)
            log.items.append((log.last_seq, index, message))
            log.originals[message.serial] = message
        limit = self.retention.max_count(channel)
        if limit is not None:
            log.drop_oldest(len(log.items) - limit)
        publication = Publication(channel, position, messages, previous=previous)
        self._notify(publication)
        return publication

    async def floor(self, channel: str) -> Position:
        log = self._logs.get(channel)
        return Position(log.floor if log else 0, self.epoch)

    async def trim(self, now_ms: int) -> int:
        self._dedup.expire(now_ms)
        removed = 0
        if not self.retention:
            return removed
        for channel, log in self._logs.items():
            cutoff = self.retention.ttl_cutoff_seq(channel, now_ms, COUNTER_LIMIT)
            if cutoff is not None and log.seqs and log.seqs[0] < cutoff:
                removed += log.drop_oldest(bisect.bisect_left(log.seqs, cutoff))
        return removed

    async def drop_scope(self, scope: str) -> int:
        self._drop_members(scope)
        keys = [key for key in self._logs if scope_of(key) == scope]
        self._dedup.forget(set(keys))
        removed = 0
        for key in keys:
            log = self._logs[key]
            removed += len(log.items)
            self._logs[key] = _Log(last_seq=log.last_seq, floor=log.last_seq)
        return removed

    async def head(self, channel: str) -> Position:
        log = self._logs.get(channel)
        return Position(log.last_seq if log else 0, self.epoch)

    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        log = self._logs.get(channel)
        if log is None:
            return []
        low = bisect.bisect_right(log.seqs, query.after) if query.after is not None else 0
        return [log.as_of(m, query.until) for m in select(log.items[low:], query)]

    async def mutate(self, channel: str, part: Message, now_ms: int, authorize: Authorizer) -> Publication:
        log = self._logs.get(channel)
        original = log.originals.get(part.serial or "") if log else None
        if log is None or original is None or part.serial is None:
            raise not_found(f"Message {part.serial} not found on channel {plain_name(channel)}")
        current = log.current.get(part.serial, original)
        authorize(current)
        if part.action == MessageAction.APPEND:
            check_appendable(current, part)
        previous, log.last_seq = log.last_seq, next_seq(log.last_seq, now_ms)
        position = Position(log.last_seq, self.epoch)
        stamp_part(part, position, now_ms)
        aggregate = log.current[part.serial] = fold(current, part)
        log.parts.setdefault(part.serial, []).append(stored_form(part, current))
        log.part_seqs.append(log.last_seq)
        log.part_targets.append(part.serial)
        publication = Publication(channel, position, [delivery(aggregate, part)], [aggregate], previous)
        self._notify(publication)
        return publication

    async def get_message(self, channel: str, serial: str) -> Message | None:
        log = self._logs.get(channel)
        original = log.originals.get(serial) if log else None
        return log.current.get(serial, original) if log and original else None

    async def versions(self, channel: str, serial: str) -> list[Message]:
        log = self._logs.get(channel)
        original = log.originals.get(serial) if log else None
        if log is None or original is None:
            return []
        return versions_of(original, log.parts.get(serial, []))

    async def replay(self, channel: str, after: int, until: int) -> list[Message]:
        log = self._logs.get(channel)
        if log is None:
            return []
        latest: dict[str, int] = {}
        for seq, _, message in log.items[bisect.bisect_right(log.seqs, after):bisect.bisect_right(log.seqs, until)]:
            latest[message.serial] = seq  # type: ignore[index]
        low, high = bisect.bisect_right(log.part_seqs, after), bisect.bisect_right(log.part_seqs, until)
        for seq, target in zip(log.part_seqs[low:high], log.part_targets[low:high]):
            latest[target] = seq
        ordered = sorted(latest.items(), key=lambda item: (item[1], item[0]))
        return [log.as_of(log.originals[serial], until) for serial, _ in ordered]
