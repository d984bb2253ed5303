"""A durable single-process engine on SQLite (WAL), with group commit.

`append` assigns the channel position synchronously, so call order is channel order, then
queues its rows for the writer (writer.py). The writer drains everything queued into a single
transaction, commits, and only then notifies the listener (in order) and resolves the
appenders: an append never returns before its commit. With WAL and synchronous=NORMAL a
committed transaction is in the WAL file, so it survives `kill -9` of the process; an OS crash
or power cut may still lose the commits made since the WAL was last synced.

All writing goes through one plain `sqlite3` connection: a group commit, with its mutation
parts, run folds, idempotency ids, channel heads and count retention, is one call running
BEGIN IMMEDIATE … COMMIT, and so is a TTL sweep (retention.py). ACK and delivery latency is
commit latency. The event loop keeps the engine's state; the only engine state a commit writes
is `_floors` (see `retention.delete_through`). Reads stay on an aiosqlite connection of their
own (queries.py).

If a commit fails, every append of that batch fails with AblyError 50000 and nothing of it is
notified. The in-memory `last_seq` keeps the positions the failed batch had taken: they are
simply skipped, never reused, so appends already queued behind the failed batch keep their
(higher) positions and the committed stream still strictly increases. Positions are not dense,
so a skipped position is not a gap a subscriber can see.

The store belongs to one process: a second engine opening the same file is refused, because
both would assign positions from their own memory.

Client-supplied message ids (idempotent publishing) are written in the same transaction as
their messages, so a publish that was committed but never acknowledged before a crash is
still recognised when the client re-sends it after the restart.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import suppress
from functools import partial
from pathlib import Path

from ...protocol.actions import MessageAction
from ...protocol.errors import AblyError, internal, not_found
from ...protocol.message import Message
from ...protocol.serial import COUNTER_LIMIT, Position, next_seq, seq_of_serial
from ..base import Authorizer, Engine, HistoryQuery, Publication, StoreInUse, check_batch
from ..dedup import DEFAULT_WINDOW_MS, DedupIndex
from ..epoch import new_epoch
from ..mutations import check_appendable, delivery, fold, merge_appends, stamp_part, stored_form
from ..retention import RetentionPolicy
from ..scope import plain_name, scope_of
from . import retention
from .queries import Reader
from .schema import SCHEMA_VERSION, pack_message
from .writer import INLINE_ROWS, Batch, IdRow, PartRow, Pending, Row, Writer, write_batch

log = logging.getLogger("broker.engine.sqlite")

FOLD_EVERY = 64
CACHE_LIMIT = 10_000


class SqliteEngine(Engine):
    """`epoch` is known after `open()`; `commits` counts committed transactions (group commit),
    `inline_commits` those run on the event loop, `checkpoints` the WAL checkpoints run."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000, *, retention: RetentionPolicy | None = None,
                 dedup_window_ms: int = DEFAULT_WINDOW_MS) -> None:
        super().__init__()
        if str(path) == ":memory:":
            raise ValueError("SqliteEngine needs a file (its reader is a second connection); use MemoryEngine")
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.epoch = ""
        self.commits = 0
        self._assigned: dict[str, int] = {}
        self._committed: dict[str, int] = {}
        self._writer = Writer(busy_timeout_ms)
        self._lock_fd: int | None = None
        self._reader: Reader | None = None
        # Latest aggregates of recently mutated messages, so a stream of appends never reads.
        self._current: OrderedDict[tuple[str, str], Message] = OrderedDict()
        self._loading: dict[tuple[str, str], asyncio.Future[Message | None]] = {}
        self._runs: dict[tuple[str, str], list[tuple[int, Message]]] = {}  # appends not yet compacted
        self._ordering: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}  # mutations waiting for a load
        self.retention = retention or RetentionPolicy()
        self._dedup = DedupIndex(dedup_window_ms)
        self._ids_dirty = False  # idempotency rows may be waiting to be purged
        self._floors: dict[str, int] = {}
        self._counts: dict[str, int] = {}  # messages stored, for channels with a count limit
        self._oldest: dict[str, int] = {}  # lowest stored seq (a lower bound), for channels with a TTL

    @property
    def inline_commits(self) -> int:
        return self._writer.inline_commits

    @property
    def checkpoints(self) -> int:
        return self._writer.checkpoints

    async def open(self) -> None:
        self._lock_store()
        try:
            stored = await self._writer.open(self.path, new_epoch(), time.time_ns() // 1_000_000)
            if stored.schema != SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has schema {stored.schema}, this broker needs {SCHEMA_VERSION}")
            self.epoch = stored.epoch
            self._committed = stored.channels
            self._assigned = dict(self._committed)
            self._floors = stored.floors
            for channel, key, serial, expires in stored.ids:  # a restart keeps the ids inside their window
                self._dedup.load(channel, key, serial, expires)
            self._ids_dirty = True
            self._reader = await Reader.open(self.path, self.busy_timeout_ms)
        except BaseException:
            await self._release()
            raise
        self._writer.start(self._commit, name=f"sqlite-writer:{self.path.name}")

    async def close(self) -> None:
        await self._writer.stop()
        await self._release()

    async def flush(self) -> None:
        await self._writer.flush()

    async def ping(self) -> None:
        if not self._writer.running:
            raise internal("The sqlite engine is not open")
        await self._open_reader().ping()

    def storage_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with suppress(OSError):
                total += os.stat(f"{self.path}{suffix}").st_size
        return total

    def _open_reader(self) -> Reader:
        if self._reader is None:
            raise internal("The sqlite engine is not open")
        return self._reader

    # -- appending ---------------------------------------------------------------------

    async def append(self, channel: str, messages: list[Message], now_ms: int,
                     idempotency_keys: Sequence[str | None] | None = None) -> Publication:
        if not self._writer.running:
            raise internal("The sqlite engine is not open")
        check_batch(messages)
        claim = self._dedup.claim(channel, messages, idempotency_keys, now_ms)
        if not claim.fresh:
            return await self._dedup.outcome(claim, None)
        try:
            pending = self._prepare(channel, claim.fresh, now_ms)
        except BaseException as exc:
            self._dedup.failed(claim, exc)
            raise
        if claim.created:
            pending.claim = claim
        self._writer.submit(pending)
        publication = await pending.future
        return publication if not claim.repeats else await self._dedup.outcome(claim, publication)

    def _prepare(self, channel: str, messages: list[Message], now_ms: int) -> Pending:
        """Take the channel's next position and stamp and pack `messages` for the writer."""
        previous = self._assigned.get(channel, 0)
        seq = next_seq(previous, now_ms)
        position = Position(seq, self.epoch)
        prefix, ms = str(position), position.ms
        rows: list[Row] = []
        for index, message in enumerate(messages):
            message.serial = f"{prefix}:{index:03d}"
            message.timestamp = ms
            try:
                rows.append((channel, seq, index, pack_message(message)))
            except (TypeError, ValueError, OverflowError) as exc:
                raise AblyError(40000, 400, f"Message cannot be stored: {exc}") from exc
        self._assigned[channel] = seq
        publication = Publication(channel, position, messages, previous=previous)
        return Pending(publication, rows, asyncio.get_running_loop().create_future())

    # -- reading -----------------------------------------------------------------------

    async def head(self, channel: str) -> Position:
        return Position(self._committed.get(channel, 0), self.epoch)

    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        return await self._open_reader().history(channel, query)

    async def get_message(self, channel: str, serial: str) -> Message | None:
        self._open_reader()
        return await self._latest(channel, serial)

    async def versions(self, channel: str, serial: str) -> list[Message]:
        return await self._open_reader().versions(channel, serial)

    async def replay(self, channel: str, after: int, until: int) -> list[Message]:
        return await self._open_reader().replay(channel, after, until)

    # -- mutations and the aggregate cache ---------------------------------------------

    async def _latest(self, channel: str, serial: str) -> Message | None:
        """The latest aggregate, from the cache or the store (one load per message at a time)."""
        key = (channel, serial)
        if key in self._current:
            self._current.move_to_end(key)
            return self._current[key]
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.get_running_loop().create_future()
            try:
                message = await self._open_reader().load(channel, serial, self.epoch)
            except BaseException as exc:
                loading.set_exception(exc)
                raise
            finally:
                self._loading.pop(key, None)
            if message is not None and key not in self._current:
                self._remember(key, message)
            loading.set_result(message)
        else:
            await loading
        return self._current.get(key)

    def _remember(self, key: tuple[str, str], message: Message) -> None:
        self._current[key] = message
        self._current.move_to_end(key)
        while len(self._current) > CACHE_LIMIT:
            (old_channel, old_serial), old = next(iter(self._current.items()))
            version = seq_of_serial(old.version["serial"]) if old.version else 0
            if version > self._committed.get(old_channel, 0):
                break  # its parts are not committed yet: a reload would miss them
            self._current.popitem(last=False)
            self._runs.pop((old_channel, old_serial), None)  # that run stays uncompacted

    async def mutate(self, channel: str, part: Message, now_ms: int, authorize: Authorizer) -> Publication:
        if not self._writer.running:
            raise internal("The sqlite engine is not open")
        serial = part.serial or ""
        key = (channel, serial)
        if key in self._current and key not in self._ordering:
            pending = self._stage_mutation(channel, serial, self._current[key], part, now_ms, authorize)
        else:
            # The message must be loaded first: mutations of it that arrive meanwhile queue
            # behind this one (asyncio.Lock is FIFO), so they are stamped in arrival order.
            lock, users = self._ordering.get(key, (asyncio.Lock(), 0))
            self._ordering[key] = (lock, users + 1)
            try:
                async with lock:
                    current = await self._latest(channel, serial)
                    pending = self._stage_mutation(channel, serial, current, part, now_ms, authorize)
            finally:
                lock, users = self._ordering[key]
                if users == 1:
                    del self._ordering[key]
                else:
                    self._ordering[key] = (lock, users - 1)
        self._writer.submit(pending)
        return await pending.future

    def _stage_mutation(self, channel: str, serial: str, current: Message | None, part: Message, now_ms: int,
                        authorize: Authorizer) -> Pending:
        """Check and stamp a mutation against the message's latest state; no await, so in order."""
        if current is None:
            raise not_found(f"Message {serial} not found on channel {plain_name(channel)}")
        authorize(current)
        if part.action == MessageAction.APPEND:
            check_appendable(current, part)
        previous = self._assigned.get(channel, 0)
        seq = next_seq(previous, now_ms)
        position = Position(seq, self.epoch)
        stamp_part(part, position, now_ms)
        aggregate = fold(current, part)
        stored = stored_form(part, current)
        target_seq, target_idx = seq_of_serial(serial), int(serial[-3:])
        row = (channel, seq, seq, target_seq, target_idx, pack_message(stored))
        self._assigned[channel] = seq
        self._remember((channel, serial), aggregate)
        publication = Publication(channel, position, [delivery(aggregate, part)], [aggregate], previous)
        pending = Pending(publication, [], asyncio.get_running_loop().create_future(), [row], (channel, serial))
        run = self._runs.setdefault((channel, serial), [])
        if part.action != MessageAction.APPEND:
            run.clear()
        else:
            run.append((seq, stored))
            if len(run) >= FOLD_EVERY:
                merged = pack_message(merge_appends([p for _, p in run]))
                pending.fold = (channel, target_seq, target_idx, run[0][0], seq, merged)
                run.clear()
        return pending

    # -- group commit ------------------------------------------------------------------

    async def _commit(self, batch: list[Pending], may_inline: bool = False) -> None:
        """One transaction for the whole batch; notify and resolve only once it is committed."""
        conn = self._writer.conn
        assert conn is not None
        heads: dict[str, int] = {}
        rows: list[Row] = []
        parts: list[PartRow] = []
        folds: list[PartRow] = []
        ids: list[IdRow] = []
        added: dict[str, int] = {}
        for pending in batch:
            channel = pending.publication.channel
            heads[channel] = pending.publication.position.seq
            rows.extend(pending.rows)
            parts.extend(pending.parts)
            if pending.fold is not None:
                folds.append(pending.fold)
            added[channel] = added.get(channel, 0) + len(pending.rows)
            if pending.claim is not None:
                ids.extend(pending.claim.stored_ids())
        limits: dict[str, tuple[int, int | None, int]] = {}
        if self.retention:
            for channel, count in added.items():
                limit = self.retention.max_count(channel)
                if limit is not None:
                    limits[channel] = (count, self._counts.get(channel), limit)
        saved = {channel: self._floors.get(channel) for channel in limits}
        write = partial(write_batch, conn, Batch(rows, parts, folds, ids, list(heads.items()), limits), self._floors)
        # Each row touches a leaf of its table and of an index or two; heads and folds a few more.
        self._writer.unchecked_pages += 2 * (len(rows) + len(parts) + len(ids)) + len(heads) + 2 * len(folds) + 1
        began = time.perf_counter()
        try:
            counts, cuts = await self._writer.write(write, inline=may_inline and not limits
                                                    and len(rows) + len(parts) + len(ids) <= INLINE_ROWS)
        except Exception as exc:  # noqa: BLE001 - whatever broke the commit fails this batch, not the writer
            log.error("commit of %d publications failed: %s", len(batch), exc)
            self._restore(self._floors, saved)
            error = internal(f"Could not persist the message: {exc}")
            for pending in batch:
                if pending.target is not None:
                    self._current.pop(pending.target, None)  # it holds the lost mutation
                    self._runs.pop(pending.target, None)  # and its run must not be compacted
                if pending.claim is not None:
                    self._dedup.failed(pending.claim, error)
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        self.commits += 1
        if self._commit_observer is not None:
            self._commit_observer(time.perf_counter() - began)
        self._committed.update(heads)
        self._counts.update(counts)
        self._forget_deleted(cuts)
        self._ids_dirty = self._ids_dirty or bool(ids)
        for pending in batch:
            if pending.claim is not None:
                self._dedup.committed(pending.claim)
        for pending in batch:
            try:
                self._notify(pending.publication)
            except Exception:  # a faulty receiver must not fail appends that are committed
                log.exception("publication receiver failed on %r", pending.publication.channel)
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(pending.publication)

    # -- retention ---------------------------------------------------------------------

    async def floor(self, channel: str) -> Position:
        return Position(self._floors.get(channel, 0), self.epoch)

    async def trim(self, now_ms: int) -> int:
        self._dedup.expire(now_ms)
        if self._writer.conn is None or self._writer.closing:
            return 0
        due: list[tuple[str, int]] = []
        if self.retention:
            due = [(ch, cutoff) for ch in self._committed if (cutoff := self._ttl_due(ch, now_ms)) is not None]
        purge_ids = self._ids_dirty or len(self._dedup) > 0
        if not due and not purge_ids:
            return 0
        async with self._writer.lock:
            conn = self._writer.conn
            if conn is None:
                return 0  # closed while this sweep waited for the commit in progress
            job = retention.Sweep([(ch, cutoff, self._assigned.get(ch, 0)) for ch, cutoff in due],
                                  retention.TRIM_BUDGET, now_ms if purge_ids else None)
            saved = {ch: self._floors.get(ch) for ch, _ in due}
            try:
                await self._writer.write(partial(retention.sweep, conn, job, self._floors), inline=False)
            finally:  # failed or cancelled too: the sweep has ended either way, settle its outcome
                if job.committed:
                    for channel, removed in job.removed.items():
                        if channel in self._counts:
                            self._counts[channel] -= removed
                    self._forget_deleted(job.cuts)
                    self._oldest.update(job.oldest)
                    self._ids_dirty = False
                else:
                    self._restore(self._floors, saved)
                    for channel, _ in due:
                        self._oldest.pop(channel, None)
            return job.total

    async def drop_scope(self, scope: str) -> int:
        self._drop_members(scope)
        logs = [(ch, self._assigned.get(ch, 0)) for ch in self._assigned if scope_of(ch) == scope]
        if not logs:
            return 0
        channels = {ch for ch, _ in logs}
        self._dedup.forget(channels)
        async with self._writer.lock:
            conn = self._writer.conn
            if conn is None:
                raise internal("The sqlite engine is not open")
            saved = {ch: self._floors.get(ch) for ch in channels}
            try:
                removed = await self._writer.write(partial(retention.drop_logs, conn, logs, self._floors), inline=False)
            except BaseException:
                self._restore(self._floors, saved)
                raise
        for channel, assigned in logs:
            if channel in self._counts:
                self._counts[channel] = 0
            self._oldest[channel] = assigned + 1
        for key in [k for k in self._current if k[0] in channels]:
            del self._current[key]
        return removed

    def _ttl_due(self, channel: str, now_ms: int) -> int | None:
        """The channel's TTL cutoff seq, if it may still hold messages older than that."""
        cutoff = self.retention.ttl_cutoff_seq(channel, now_ms, COUNTER_LIMIT)
        return cutoff if cutoff is not None and self._oldest.get(channel, 0) < cutoff else None

    def _forget_deleted(self, cuts: dict[str, int]) -> None:
        """Drop cached aggregates of messages retention deleted: a mutation must not find them."""
        if cuts:
            for key in [k for k in self._current if k[0] in cuts and seq_of_serial(k[1]) <= cuts[k[0]]]:
                del self._current[key]

    @staticmethod
    def _restore(state: dict[str, int], saved: dict[str, int | None]) -> None:
        for channel, value in saved.items():
            if value is None:
                state.pop(channel, None)
            else:
                state[channel] = value

    # -- the store file ----------------------------------------------------------------

    def _lock_store(self) -> None:
        """Refuse a second owner: flock does not interact with SQLite's own fcntl locks."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreInUse(self.path) from None
        self._lock_fd = fd

    async def _release(self) -> None:
        """Close the reader, then the writer's connection on its own thread, then that thread."""
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        await self._writer.release()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
