"""The group-commit writer: one queue, one writer connection, one transaction per batch.

`Writer.submit` queues a staged publication; the writer task drains everything queued into one
call of the engine's commit (which runs `write_batch`), so concurrent publishes share a
transaction. The transaction runs inline on the event loop when it is small and comes after a
pause (cheaper than two thread hand-offs on a busy machine), otherwise on a dedicated writer
thread so the loop keeps reading while SQLite writes. Commits are serialised by the writer task
and `lock`, whichever side runs them. WAL checkpoints, the one part of a commit that can fsync,
never run inline: auto-checkpointing is off and the writer thread checkpoints every
CHECKPOINT_PAGES written.

The functions here run on the writer connection, inline or on the thread: they take what they
need as arguments and hand back what the loop must apply, so engine state is only touched by
the loop (the floors aside, see `retention.delete_through`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from ..base import Publication
from ..dedup import Claim
from .retention import trim_to_count
from .schema import Busy, Stored, immediate, open_store

T = TypeVar("T")

log = logging.getLogger("broker.engine.sqlite")

INLINE_ROWS = 16  # a commit of at most this many rows runs on the event loop (see the module doc)
INLINE_AFTER_IDLE = 0.0005  # ... if the writer had been idle this long (s) before it; busy brokers use the thread
CHECKPOINT_PAGES = 1000  # SQLite's own auto-checkpoint threshold, on the writer thread instead

_INSERT_ID = "INSERT OR REPLACE INTO idempotency (channel, id, serial, expires) VALUES (?, ?, ?, ?)"
_INSERT_MESSAGE = "INSERT INTO messages (channel, seq, idx, body) VALUES (?, ?, ?, ?)"
_INSERT_PART = "INSERT INTO parts (channel, vseq, first_vseq, target_seq, target_idx, body) VALUES (?, ?, ?, ?, ?, ?)"
_DELETE_RUN = "DELETE FROM parts WHERE channel = ? AND target_seq = ? AND target_idx = ? AND vseq BETWEEN ? AND ?"
_UPSERT_CHANNEL = (
    "INSERT INTO channels (name, last_seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq"
)

Row = tuple[str, int, int, bytes]  # (channel, seq, idx, body)
PartRow = tuple[str, int, int, int, int, bytes]  # (channel, vseq, first vseq, target seq, target idx, body)
IdRow = tuple[str, str, str, int]  # (channel, id, serial, expires)


@dataclass(slots=True)
class Pending:
    """One staged append or mutation, waiting for its group commit."""

    publication: Publication
    rows: list[Row]
    future: asyncio.Future[Publication]
    parts: list[PartRow] = field(default_factory=list)
    target: tuple[str, str] | None = None  # the cached aggregate a mutation changed
    claim: Claim | None = None  # the client-supplied ids this append stores
    # A run of appends to compact once its rows are in: (channel, target seq, idx, first, last, body).
    fold: tuple[str, int, int, int, int, bytes] | None = None


@dataclass(slots=True)
class Batch:
    """One group commit's rows; `limits` per count-limited channel: (rows added, count known, limit)."""

    rows: list[Row]
    parts: list[PartRow]
    folds: list[PartRow]
    ids: list[IdRow]
    heads: list[tuple[str, int]]
    limits: dict[str, tuple[int, int | None, int]]


def write_batch(conn: sqlite3.Connection, batch: Batch,
                floors: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """One group commit. Returns the new message counts of count-limited channels and, per
    channel whose oldest messages it deleted, the highest seq deleted."""
    counts: dict[str, int] = {}
    cuts: dict[str, int] = {}
    with immediate(conn):
        conn.executemany(_INSERT_MESSAGE, batch.rows)
        if batch.parts:
            conn.executemany(_INSERT_PART, batch.parts)
        for channel, target_seq, target_idx, first, last, body in batch.folds:
            conn.execute(_DELETE_RUN, (channel, target_seq, target_idx, first, last))
            conn.execute(_INSERT_PART, (channel, last, first, target_seq, target_idx, body))
        if batch.ids:
            conn.executemany(_INSERT_ID, batch.ids)
        conn.executemany(_UPSERT_CHANNEL, batch.heads)
        for channel, (added, known, limit) in batch.limits.items():
            if known is not None:
                count = known + added
            else:
                count = int(conn.execute("SELECT COUNT(*) FROM messages WHERE channel = ?", (channel,)).fetchone()[0])
            removed, cut = trim_to_count(conn, channel, count, limit, floors)
            if removed or cut:
                count -= removed
                cuts[channel] = cut
            counts[channel] = count
    return counts, cuts


def _waiting(conn: sqlite3.Connection, busy_timeout_ms: int, call: Callable[[], T]) -> T:
    """Run `call` on the writer thread, where waiting for another connection's lock is fine."""
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    try:
        return call()
    finally:
        conn.execute("PRAGMA busy_timeout=0")


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the WAL into the database without waiting for readers (PASSIVE)."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


Commit = Callable[[list[Pending], bool], Awaitable[None]]


class Writer:
    """The writer connection, its thread, and the task that drains the queue into group commits.

    `inline_commits` counts commits run on the event loop, `checkpoints` the WAL checkpoints run."""

    def __init__(self, busy_timeout_ms: int) -> None:
        self.busy_timeout_ms = busy_timeout_ms
        self.conn: sqlite3.Connection | None = None  # one transaction at a time, inline or on its thread
        self.lock = asyncio.Lock()
        self.inline_commits = 0
        self.checkpoints = 0
        self.unchecked_pages = 0  # an estimate of the pages written since the last checkpoint
        self.queue: list[Pending] = []
        self.in_flight: list[Pending] = []
        self.closing = False
        self._executor: ThreadPoolExecutor | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._wake is not None and not self.closing

    async def open(self, path: Path, epoch: str, now_ms: int) -> Stored:
        """Start the thread and connect the writer; returns what the store holds."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self.conn, stored = await self.in_writer(partial(open_store, path, self.busy_timeout_ms, epoch, now_ms))
        return stored

    def start(self, commit: Commit, name: str) -> None:
        """Begin draining the queue: `commit(batch, may_inline)` settles one batch."""
        self.closing = False
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop(commit), name=name)

    def submit(self, pending: Pending) -> None:
        assert self._wake is not None
        self.queue.append(pending)
        self._wake.set()

    async def stop(self) -> None:
        """Commit what is queued, then end the writer task."""
        self.closing = True
        if self._task is not None and self._wake is not None:
            self._wake.set()
            await self._task
            self._task = None

    async def release(self) -> None:
        """Close the writer's connection on its own thread, then that thread."""
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.in_writer(conn.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # idle: every call queued before the close has ended
            self._executor = None

    async def flush(self) -> None:
        waiting = [pending.future for pending in self.in_flight + self.queue]
        if waiting:
            await asyncio.wait(waiting)

    async def _loop(self, commit: Commit) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        idle = 0.0  # how long the writer waited for this batch: a short wait means a busy broker
        while True:
            if not self.queue:
                if self.closing:
                    return
                self._wake.clear()
                since = loop.time()
                await self._wake.wait()
                idle = loop.time() - since
                continue
            batch, self.queue = self.queue, []
            self.in_flight = batch
            async with self.lock:
                await commit(batch, idle >= INLINE_AFTER_IDLE)
                if self.unchecked_pages >= CHECKPOINT_PAGES:
                    self.unchecked_pages = 0
                    await self._checkpoint()
            idle = 0.0
            self.in_flight = []

    async def in_writer(self, call: Callable[[], T]) -> T:
        """Run `call` on the writer thread. A transaction cannot be stopped halfway, so a cancelled
        caller (whose call has started) still waits for it to end, committed or rolled back,
        before the cancellation goes on: what the caller then settles in memory matches a store
        that no longer changes. No shield on the way: under load every extra hop is one more
        turn of a busy event loop on the path to the ACK."""
        assert self._executor is not None
        job = self._executor.submit(call)
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            ended = asyncio.wrap_future(job)  # the cancel dropped it if it had not started
            while not ended.done():
                with suppress(asyncio.CancelledError):
                    await asyncio.wait([ended])
            if not ended.cancelled():
                ended.exception()  # retrieved: the caller's own cleanup deals with the outcome
            raise

    async def write(self, call: Callable[[], T], *, inline: bool) -> T:
        """Run a write transaction inline if asked and the lock is free at once, else on the thread."""
        assert self.conn is not None
        if inline:
            try:
                result = call()
            except Busy:
                pass
            else:
                self.inline_commits += 1
                return result
        return await self.in_writer(partial(_waiting, self.conn, self.busy_timeout_ms, call))

    async def _checkpoint(self) -> None:
        assert self.conn is not None
        try:
            await self.in_writer(partial(_checkpoint, self.conn))
            self.checkpoints += 1
        except sqlite3.Error as exc:  # the WAL only grows until the next one succeeds
            log.warning("WAL checkpoint failed: %s", exc)
