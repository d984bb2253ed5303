"""A durable single-process engine on SQLite (WAL), with group commit.

`append` assigns the channel position synchronously, so call order is channel order, then
queues its rows for the one writer task. The writer drains everything queued into a single
transaction, commits, and only then notifies the listener (in order) and resolves the
appenders: an append never returns before its commit. With WAL and synchronous=NORMAL a
committed transaction is in the WAL file, so it survives `kill -9` of the process; an OS crash
or power cut may still lose the commits made since the WAL was last synced.

All writing goes through one plain `sqlite3` connection: a group commit, with its mutation
parts, run folds, idempotency ids, channel heads and count retention, is one call running
BEGIN IMMEDIATE … COMMIT, and so is a TTL sweep. ACK and delivery latency is commit latency.
A small commit after a pause (a quiet channel, a paced token stream) costs less than handing
it to another thread and back — two wake-ups that on a busy machine each wait for a core — so
it runs inline on the event loop. When commits follow each other closely, or one is large, it
goes to a dedicated writer thread instead, so the loop keeps reading while SQLite writes: a
busy broker gains more from that overlap than it loses to the hand-off. Commits are serialised by the writer
task and `_write_lock` whichever side runs them. WAL checkpoints, the one part of a commit
that can fsync, never run inline: auto-checkpointing is off and the writer thread checkpoints
every CHECKPOINT_PAGES written. The event loop keeps the engine's state; the only engine
state a commit writes is `_floors` (see `_delete_through`). Reads stay on an
aiosqlite connection (its own thread): they are not on the publish path, under WAL they run
alongside a commit, and a slow history query cannot hold up an ACK.

If a commit fails, every append of that batch fails with AblyError 50000 and nothing of it is
notified. The in-memory `last_seq` keeps the positions the failed batch had taken: they are
simply skipped, never reused, so appends already queued behind the failed batch keep their
(higher) positions and the committed stream still strictly increases. Positions are not dense,
so a skipped position is not a gap a subscriber can see.

The store belongs to one process: a second engine opening the same file is refused, because
both would assign positions from their own memory.

Client-supplied message ids (idempotent publishing) are written in the same transaction as
their messages, so a publish that was committed but never acknowledged before a crash is
still recognised when the client re-sends it after the restart. Retention deletes run on the
writer connection too: count limits inside the commit that exceeds them, age limits in `trim`.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import msgpack

from ..protocol.actions import MessageAction
from ..protocol.errors import AblyError, internal, not_found
from ..protocol.message import Message
from ..protocol.serial import COUNTER_LIMIT, Position, next_seq, parse_serial, seq_of_serial
from ..protocol.wire import Format
from .base import Authorizer, Engine, HistoryQuery, Publication, check_batch
from .dedup import DEFAULT_WINDOW_MS, Claim, DedupIndex
from .epoch import new_epoch
from .mutations import check_appendable, delivery, fold, merge_appends, stamp_part, stored_form, versions_of
from .retention import RetentionPolicy

T = TypeVar("T")

log = logging.getLogger(__name__)

SCHEMA_VERSION = "3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS channels (name TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID",
    (
        "CREATE TABLE IF NOT EXISTS messages ("
        " channel TEXT NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL, body BLOB NOT NULL,"
        " PRIMARY KEY (channel, seq, idx)) WITHOUT ROWID"
    ),
    # Mutation parts (see engine/mutations.py): one row per update/delete/append, keyed by its
    # own position, folded into the target message on read. A run of FOLD_EVERY appends is
    # compacted into one row spanning first_vseq..vseq.
    (
        "CREATE TABLE IF NOT EXISTS parts ("
        " channel TEXT NOT NULL, vseq INTEGER NOT NULL, first_vseq INTEGER NOT NULL, target_seq INTEGER NOT NULL,"
        " target_idx INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (channel, vseq)) WITHOUT ROWID"
    ),
    "CREATE INDEX IF NOT EXISTS parts_by_target ON parts (channel, target_seq, target_idx, vseq)",
    # Client-supplied message ids within the dedup window (engine/dedup.py).
    (
        "CREATE TABLE IF NOT EXISTS idempotency (channel TEXT NOT NULL, id TEXT NOT NULL, serial TEXT NOT NULL,"
        " expires INTEGER NOT NULL, PRIMARY KEY (channel, id)) WITHOUT ROWID"
    ),
    "CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires)",
    # Per channel, the highest position retention deleted messages from (engine/retention.py).
    "CREATE TABLE IF NOT EXISTS floors (channel TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID",
)
TRIM_BUDGET = 10_000  # messages one retention sweep deletes at most
_INSERT_ID = "INSERT OR REPLACE INTO idempotency (channel, id, serial, expires) VALUES (?, ?, ?, ?)"
_UPSERT_FLOOR = "INSERT INTO floors (channel, seq) VALUES (?, ?) ON CONFLICT (channel) DO UPDATE SET seq = excluded.seq"
_INSERT_MESSAGE = "INSERT INTO messages (channel, seq, idx, body) VALUES (?, ?, ?, ?)"
_INSERT_PART = "INSERT INTO parts (channel, vseq, first_vseq, target_seq, target_idx, body) VALUES (?, ?, ?, ?, ?, ?)"
_DELETE_RUN = "DELETE FROM parts WHERE channel = ? AND target_seq = ? AND target_idx = ? AND vseq BETWEEN ? AND ?"
FOLD_EVERY = 64
INLINE_ROWS = 16  # a commit of at most this many rows runs on the event loop (see the module doc)
INLINE_AFTER_IDLE = 0.0005  # ... if the writer had been idle this long (s) before it; busy brokers use the thread
CHECKPOINT_PAGES = 1000  # SQLite's own auto-checkpoint threshold, on the writer thread instead
CACHE_LIMIT = 10_000
_UPSERT_CHANNEL = (
    "INSERT INTO channels (name, last_seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq"
)


_packer = msgpack.Packer(use_bin_type=True, unicode_errors="surrogatepass")


def pack_message(message: Message) -> bytes:
    """Store the msgpack wire form: bytes stay bytes, and lone surrogates in text survive."""
    packed: bytes = _packer.pack(message.to_wire(Format.MSGPACK))
    return packed


def unpack_message(body: bytes) -> Message:
    """Rebuild a stored message as stored, without re-running inbound normalisation."""
    obj: dict[str, Any] = msgpack.unpackb(body, raw=False, unicode_errors="surrogatepass", strict_map_key=False)
    return Message(
        name=obj.get("name"),
        data=obj.get("data"),
        encoding=obj.get("encoding"),
        client_id=obj.get("clientId"),
        connection_id=obj.get("connectionId"),
        id=obj.get("id"),
        timestamp=obj.get("timestamp"),
        extras=obj.get("extras"),
        action=obj.get("action", 0),
        serial=obj.get("serial"),
        version=obj.get("version"),
    )


def history_sql(channel: str, query: HistoryQuery) -> tuple[str, list[object]]:
    """The SQL twin of `query.matches` + ordering + limit, served from the primary key."""
    clauses = ["channel = ?"]
    params: list[object] = [channel]
    if query.after is not None:
        clauses.append("seq > ?")
        params.append(query.after)
    if query.until is not None:
        clauses.append("seq <= ?")
        params.append(query.until)
    if query.start is not None:
        clauses.append("seq >= ?")
        params.append(query.start * COUNTER_LIMIT)
    if query.end is not None:
        clauses.append("seq < ?")
        params.append((query.end + 1) * COUNTER_LIMIT)
    backwards = query.direction == "backwards"
    if query.cursor is not None:
        seq, index = query.cursor
        if backwards:
            clauses.append("seq <= ? AND (seq, idx) < (?, ?)")
        else:
            clauses.append("seq >= ? AND (seq, idx) > (?, ?)")
        params.extend((seq, seq, index))
    order = "DESC" if backwards else "ASC"
    params.append(query.limit)
    sql = f"SELECT body FROM messages WHERE {' AND '.join(clauses)} ORDER BY seq {order}, idx {order} LIMIT ?"
    return sql, params


@dataclass(slots=True)
class _Pending:
    publication: Publication
    rows: list[tuple[str, int, int, bytes]]
    future: asyncio.Future[Publication]
    parts: list[tuple[str, int, int, int, int, bytes]] = field(default_factory=list)
    target: tuple[str, str] | None = None  # the cached aggregate a mutation changed
    claim: Claim | None = None  # the client-supplied ids this append stores
    # A run of appends to compact once its rows are in: (channel, target seq, idx, first, last, body).
    fold: tuple[str, int, int, int, int, bytes] | None = None


# -- writing ----------------------------------------------------------------------------
# Plain functions on the writer connection, run inline or on the writer thread. They take what
# they need as arguments and hand back what the loop must apply, so the engine's state is only
# touched by the loop (the floors aside, see `_delete_through`).

Row = tuple[str, int, int, bytes]
PartRow = tuple[str, int, int, int, int, bytes]


@dataclass(slots=True)
class _Stored:
    """What the store holds at open: meta, channel heads, floors, live idempotency ids."""

    epoch: str
    schema: str
    channels: dict[str, int]
    floors: dict[str, int]
    ids: list[tuple[str, str, str, int]]


@dataclass(slots=True)
class _Batch:
    """One group commit's rows; `limits` per count-limited channel: (rows added, count known, limit)."""

    rows: list[Row]
    parts: list[PartRow]
    folds: list[PartRow]
    ids: list[tuple[str, str, str, int]]
    heads: list[tuple[str, int]]
    limits: dict[str, tuple[int, int | None, int]]


@dataclass(slots=True)
class _Sweep:
    """One TTL sweep. The thread fills in the outcome; `committed` says whether it counts."""

    due: list[tuple[str, int, int]]  # (channel, TTL cutoff seq, last assigned seq)
    budget: int
    purge_ids_before: int | None
    removed: dict[str, int] = field(default_factory=dict)
    cuts: dict[str, int] = field(default_factory=dict)  # channel -> highest seq deleted
    oldest: dict[str, int] = field(default_factory=dict)
    total: int = 0
    committed: bool = False


class _Busy(sqlite3.OperationalError):
    """The store's write lock is held by another connection (a tool, a backup)."""


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that is committed, or rolled back whatever ended it.

    Raises `_Busy` if another connection holds the write lock past the busy timeout (zero
    inline): nothing was written, so the caller may try again where waiting is allowed."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
            raise _Busy(str(exc)) from exc
        raise
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.error("rollback failed: %s", exc)
        raise


def _open_store(path: Path, busy_timeout_ms: int, epoch: str, now_ms: int) -> tuple[sqlite3.Connection, _Stored]:
    """Connect the writer, create the schema if new, and read what the engine keeps in memory."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # serialised by the engine
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # opening may wait; commits say (`_waiting`)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        with _immediate(conn):
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)", (epoch,))
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
            meta = {str(key): str(value) for key, value in conn.execute("SELECT key, value FROM meta")}
            channels = {str(name): int(seq) for name, seq in conn.execute("SELECT name, last_seq FROM channels")}
        floors = {str(ch): int(seq) for ch, seq in conn.execute("SELECT channel, seq FROM floors")}
        ids = [(str(ch), str(key), str(serial), int(expires)) for ch, key, serial, expires in conn.execute(
            "SELECT channel, id, serial, expires FROM idempotency WHERE expires > ? ORDER BY expires", (now_ms,))]
        conn.execute("PRAGMA busy_timeout=0")
    except BaseException:
        conn.close()
        raise
    return conn, _Stored(meta["epoch"], meta["schema"], channels, floors, ids)


def _write_batch(conn: sqlite3.Connection, batch: _Batch,
                 floors: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """One group commit. Returns the new message counts of count-limited channels and, per
    channel whose oldest messages it deleted, the highest seq deleted."""
    counts: dict[str, int] = {}
    cuts: dict[str, int] = {}
    with _immediate(conn):
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
            if count > limit:
                seq, idx = conn.execute(
                    "SELECT seq, idx FROM messages WHERE channel = ? ORDER BY seq, idx LIMIT 1 OFFSET ?",
                    (channel, count - limit - 1)).fetchone()
                count -= _delete_through(conn, channel, int(seq), int(idx), floors)
                cuts[channel] = int(seq)
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


def _sweep(conn: sqlite3.Connection, sweep: _Sweep, floors: dict[str, int]) -> None:
    """Delete messages past their TTL, at most `budget` in all (a long backlog goes over several
    sweeps, so no sweep holds up commits for long), and idempotency ids past their window."""
    with _immediate(conn):
        for channel, cutoff, assigned in sweep.due:
            if sweep.total >= sweep.budget:
                break
            row = conn.execute(
                "SELECT seq, idx FROM messages WHERE channel = ? AND seq < ? ORDER BY seq, idx LIMIT 1 OFFSET ?",
                (channel, cutoff, sweep.budget - sweep.total - 1)).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT seq, idx FROM messages WHERE channel = ? AND seq < ? ORDER BY seq DESC, idx DESC LIMIT 1",
                    (channel, cutoff)).fetchone()
            if row is not None:
                removed = _delete_through(conn, channel, int(row[0]), int(row[1]), floors)
                sweep.removed[channel] = removed
                sweep.total += removed
                sweep.cuts[channel] = int(row[0])
            first = conn.execute("SELECT seq FROM messages WHERE channel = ? ORDER BY seq LIMIT 1",
                                 (channel,)).fetchone()
            sweep.oldest[channel] = int(first[0]) if first is not None else assigned + 1
        if sweep.purge_ids_before is not None:
            conn.execute("DELETE FROM idempotency WHERE expires <= ?", (sweep.purge_ids_before,))
    sweep.committed = True


def _delete_through(conn: sqlite3.Connection, channel: str, seq: int, idx: int, floors: dict[str, int]) -> int:
    """Delete messages up to (seq, idx) inclusive and their versions, and raise the floor.

    The floor is raised in memory (the engine's own dict: one item assignment, atomic under the
    GIL) before the delete commits: an attach that reads its backlog and then checks the floor
    can never miss a deletion (it may, at worst, report a discontinuity a moment early). The
    event loop puts it back if the transaction fails.
    """
    floors[channel] = max(floors.get(channel, 0), seq)
    removed = conn.execute("DELETE FROM messages WHERE channel = ? AND (seq < ? OR (seq = ? AND idx <= ?))",
                           (channel, seq, seq, idx)).rowcount
    conn.execute("DELETE FROM parts WHERE channel = ? AND (target_seq < ? OR (target_seq = ? AND target_idx <= ?))",
                 (channel, seq, seq, idx))
    conn.execute(_UPSERT_FLOOR, (channel, floors[channel]))
    return int(removed)


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
        self.checkpoints = 0
        self.inline_commits = 0
        self._assigned: dict[str, int] = {}
        self._committed: dict[str, int] = {}
        self._queue: list[_Pending] = []
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # the writer's: one transaction at a time, inline or on its thread
        self._reader: aiosqlite.Connection | None = None
        # Latest aggregates of recently mutated messages, so a stream of appends never reads.
        self._current: OrderedDict[tuple[str, str], Message] = OrderedDict()
        self._loading: dict[tuple[str, str], asyncio.Future[Message | None]] = {}
        self._runs: dict[tuple[str, str], list[tuple[int, Message]]] = {}
        self._ordering: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}  # mutations waiting for a load  # appends not yet compacted
        self.retention = retention or RetentionPolicy()
        self._dedup = DedupIndex(dedup_window_ms)
        self._ids_dirty = False  # idempotency rows may be waiting to be purged
        self._floors: dict[str, int] = {}
        self._counts: dict[str, int] = {}  # messages stored, for channels with a count limit
        self._oldest: dict[str, int] = {}  # lowest stored seq (a lower bound), for channels with a TTL
        self._in_flight: list[_Pending] = []
        self._write_lock = asyncio.Lock()
        self._unchecked_pages = 0  # an estimate of the pages written since the last checkpoint

    async def open(self) -> None:
        self._lock_store()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        try:
            self._conn, stored = await self._in_writer(
                partial(_open_store, self.path, self.busy_timeout_ms, new_epoch(), time.time_ns() // 1_000_000))
            if stored.schema != SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has schema {stored.schema}, this broker needs {SCHEMA_VERSION}")
            self.epoch = stored.epoch
            self._committed = stored.channels
            self._assigned = dict(self._committed)
            self._floors = stored.floors
            for channel, key, serial, expires in stored.ids:  # a restart keeps the ids inside their window
                self._dedup.load(channel, key, serial, expires)
            self._ids_dirty = True
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._configure(self._reader)
            await self._reader.execute("PRAGMA query_only=1")
        except BaseException:
            await self._release()
            raise
        self._closing = False
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_loop(), name=f"sqlite-writer:{self.path.name}")

    async def close(self) -> None:
        self._closing = True
        if self._writer is not None and self._wake is not None:
            self._wake.set()
            await self._writer
            self._writer = None
        await self._release()

    async def flush(self) -> None:
        waiting = [pending.future for pending in self._in_flight + self._queue]
        if waiting:
            await asyncio.wait(waiting)

    async def append(self, channel: str, messages: list[Message], now_ms: int,
                     idempotency_keys: Sequence[str | None] | None = None) -> Publication:
        if self._wake is None or self._closing:
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
        self._queue.append(pending)
        self._wake.set()
        publication = await pending.future
        return publication if not claim.repeats else await self._dedup.outcome(claim, publication)

    def _prepare(self, channel: str, messages: list[Message], now_ms: int) -> _Pending:
        """Take the channel's next position and stamp and pack `messages` for the writer."""
        seq = next_seq(self._assigned.get(channel, 0), now_ms)
        position = Position(seq, self.epoch)
        prefix, ms = str(position), position.ms
        rows: list[tuple[str, int, int, bytes]] = []
        for index, message in enumerate(messages):
            message.serial = f"{prefix}:{index:03d}"
            message.timestamp = ms
            try:
                rows.append((channel, seq, index, pack_message(message)))
            except (TypeError, ValueError, OverflowError) as exc:
                raise AblyError(40000, 400, f"Message cannot be stored: {exc}") from exc
        self._assigned[channel] = seq
        return _Pending(Publication(channel, position, messages), rows, asyncio.get_running_loop().create_future())

    async def head(self, channel: str) -> Position:
        return Position(self._committed.get(channel, 0), self.epoch)

    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        if self._reader is None:
            raise internal("The sqlite engine is not open")
        if query.limit <= 0:
            return []
        sql, params = history_sql(channel, query)
        rows = await self._reader.execute_fetchall(sql, params)
        messages = [unpack_message(row[0]) for row in rows]
        return await self._fold_parts(channel, messages, query.until)

    async def _fold_parts(self, channel: str, messages: list[Message], until: int | None) -> list[Message]:
        """Fold committed mutation parts (up to `until`) into each message."""
        if not messages:
            return messages
        assert self._reader is not None
        seqs = [seq_of_serial(m.serial or "") for m in messages]
        sql = ("SELECT target_seq, target_idx, body FROM parts WHERE channel = ? AND target_seq BETWEEN ? AND ?"
               + (" AND first_vseq <= ?" if until is not None else "") + " ORDER BY target_seq, target_idx, vseq")
        params: list[object] = [channel, min(seqs), max(seqs)] + ([until] if until is not None else [])
        parts: dict[tuple[int, int], list[Message]] = {}
        for tseq, tidx, body in await self._reader.execute_fetchall(sql, params):
            parts.setdefault((int(tseq), int(tidx)), []).append(unpack_message(body))
        if not parts:
            return messages
        out = []
        for message, seq in zip(messages, seqs):
            for part in parts.get((seq, int((message.serial or "")[-3:])), ()):
                message = fold(message, part)
            out.append(message)
        return out

    async def _load(self, channel: str, serial: str) -> Message | None:
        assert self._reader is not None
        try:
            position, index = parse_serial(serial)
        except AblyError:
            return None
        if position.epoch != self.epoch:
            return None
        rows = list(await self._reader.execute_fetchall(
            "SELECT body FROM messages WHERE channel = ? AND seq = ? AND idx = ?", (channel, position.seq, index)))
        if not rows:
            return None
        return (await self._fold_parts(channel, [unpack_message(rows[0][0])], None))[0]

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
                message = await self._load(channel, serial)
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
        if self._wake is None or self._closing:
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
        self._queue.append(pending)
        self._wake.set()
        return await pending.future

    def _stage_mutation(self, channel: str, serial: str, current: Message | None, part: Message, now_ms: int,
                        authorize: Authorizer) -> _Pending:
        """Check and stamp a mutation against the message's latest state; no await, so in order."""
        if current is None:
            raise not_found(f"Message {serial} not found on channel {channel}")
        authorize(current)
        if part.action == MessageAction.APPEND:
            check_appendable(current, part)
        seq = next_seq(self._assigned.get(channel, 0), now_ms)
        position = Position(seq, self.epoch)
        stamp_part(part, position, now_ms)
        aggregate = fold(current, part)
        stored = stored_form(part, current)
        target_seq, target_idx = seq_of_serial(serial), int(serial[-3:])
        row = (channel, seq, seq, target_seq, target_idx, pack_message(stored))
        self._assigned[channel] = seq
        self._remember((channel, serial), aggregate)
        publication = Publication(channel, position, [delivery(aggregate, part)], [aggregate])
        pending = _Pending(publication, [], asyncio.get_running_loop().create_future(), [row], (channel, serial))
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

    async def get_message(self, channel: str, serial: str) -> Message | None:
        if self._reader is None:
            raise internal("The sqlite engine is not open")
        return await self._latest(channel, serial)

    async def versions(self, channel: str, serial: str) -> list[Message]:
        if self._reader is None:
            raise internal("The sqlite engine is not open")
        try:
            position, index = parse_serial(serial)
        except AblyError:
            return []
        rows = list(await self._reader.execute_fetchall(
            "SELECT body FROM messages WHERE channel = ? AND seq = ? AND idx = ?", (channel, position.seq, index)))
        if not rows:
            return []
        parts = await self._reader.execute_fetchall(
            "SELECT body FROM parts WHERE channel = ? AND target_seq = ? AND target_idx = ? ORDER BY vseq",
            (channel, position.seq, index))
        return versions_of(unpack_message(rows[0][0]), [unpack_message(p[0]) for p in parts])

    async def replay(self, channel: str, after: int, until: int) -> list[Message]:
        if self._reader is None:
            raise internal("The sqlite engine is not open")
        created = await self._reader.execute_fetchall(
            "SELECT seq, body FROM messages WHERE channel = ? AND seq > ? AND seq <= ? ORDER BY seq, idx",
            (channel, after, until))
        touched = await self._reader.execute_fetchall(
            "SELECT target_seq, target_idx, MAX(vseq) FROM parts WHERE channel = ? AND vseq > ? AND first_vseq <= ?"
            " GROUP BY target_seq, target_idx", (channel, after, until))
        latest: dict[tuple[int, int], int] = {(int(t), int(i)): min(int(v), until) for t, i, v in touched}
        messages: dict[tuple[int, int], Message] = {}
        for seq, body in created:
            message = unpack_message(body)
            key = (int(seq), int((message.serial or "")[-3:]))
            messages[key] = message
            latest.setdefault(key, key[0])
        for tseq, tidx in [k for k in latest if k not in messages]:
            rows = list(await self._reader.execute_fetchall(
                "SELECT body FROM messages WHERE channel = ? AND seq = ? AND idx = ?", (channel, tseq, tidx)))
            if rows:
                messages[(tseq, tidx)] = unpack_message(rows[0][0])
        ordered = sorted((pos, key) for key, pos in latest.items() if key in messages)
        return await self._fold_parts(channel, [messages[key] for _, key in ordered], until)

    def _lock_store(self) -> None:
        """Refuse a second owner: flock does not interact with SQLite's own fcntl locks."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"{self.path} is in use by another engine") from None
        self._lock_fd = fd


    async def _configure(self, db: aiosqlite.Connection) -> None:
        await db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")

    async def _release(self) -> None:
        """Close the reader, then the writer's connection on its own thread, then that thread."""
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._in_writer(conn.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # idle: every call queued before the close has ended
            self._executor = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _in_writer(self, call: Callable[[], T]) -> T:
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

    async def _write_loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        idle = 0.0  # how long the writer waited for this batch: a short wait means a busy broker
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                since = loop.time()
                await self._wake.wait()
                idle = loop.time() - since
                continue
            batch, self._queue = self._queue, []
            self._in_flight = batch
            async with self._write_lock:
                await self._commit(batch, may_inline=idle >= INLINE_AFTER_IDLE)
                if self._unchecked_pages >= CHECKPOINT_PAGES:
                    self._unchecked_pages = 0
                    await self._checkpoint()
            idle = 0.0
            self._in_flight = []

    async def _commit(self, batch: list[_Pending], may_inline: bool = False) -> None:
        """One transaction for the whole batch; notify and resolve only once it is committed."""
        assert self._conn is not None
        heads: dict[str, int] = {}
        rows: list[Row] = []
        parts: list[PartRow] = []
        folds: list[PartRow] = []
        ids: list[tuple[str, str, str, int]] = []
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
        write = partial(_write_batch, self._conn, _Batch(rows, parts, folds, ids, list(heads.items()), limits),
                        self._floors)
        # Each row touches a leaf of its table and of an index or two; heads and folds a few more.
        self._unchecked_pages += 2 * (len(rows) + len(parts) + len(ids)) + len(heads) + 2 * len(folds) + 1
        try:
            counts, cuts = await self._write(write, inline=may_inline and not limits
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
            except Exception:  # a faulty listener must not fail appends that are committed
                log.exception("publication listener failed on %s", pending.publication.channel)
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(pending.publication)

    async def _write(self, call: Callable[[], T], *, inline: bool) -> T:
        """Run a write transaction inline if asked and the lock is free at once, else on the thread."""
        assert self._conn is not None
        if inline:
            try:
                result = call()
            except _Busy:
                pass
            else:
                self.inline_commits += 1
                return result
        return await self._in_writer(partial(_waiting, self._conn, self.busy_timeout_ms, call))

    async def _checkpoint(self) -> None:
        assert self._conn is not None
        try:
            await self._in_writer(partial(_checkpoint, self._conn))
            self.checkpoints += 1
        except sqlite3.Error as exc:  # the WAL only grows until the next one succeeds
            log.warning("WAL checkpoint failed: %s", exc)

    # -- retention ------------------------------------------------------------------------

    async def floor(self, channel: str) -> Position:
        return Position(self._floors.get(channel, 0), self.epoch)

    async def trim(self, now_ms: int) -> int:
        self._dedup.expire(now_ms)
        if self._conn is None or self._closing:
            return 0
        due: list[tuple[str, int]] = []
        if self.retention:
            due = [(ch, cutoff) for ch in self._committed if (cutoff := self._ttl_due(ch, now_ms)) is not None]
        purge_ids = self._ids_dirty or len(self._dedup) > 0
        if not due and not purge_ids:
            return 0
        async with self._write_lock:
            if self._conn is None:
                return 0  # closed while this sweep waited for the commit in progress
            sweep = _Sweep([(ch, cutoff, self._assigned.get(ch, 0)) for ch, cutoff in due], TRIM_BUDGET,
                           now_ms if purge_ids else None)
            saved = {ch: self._floors.get(ch) for ch, _ in due}
            try:
                await self._write(partial(_sweep, self._conn, sweep, self._floors), inline=False)
            finally:  # failed or cancelled too: the sweep has ended either way, settle its outcome
                if sweep.committed:
                    for channel, removed in sweep.removed.items():
                        if channel in self._counts:
                            self._counts[channel] -= removed
                    self._forget_deleted(sweep.cuts)
                    self._oldest.update(sweep.oldest)
                    self._ids_dirty = False
                else:
                    self._restore(self._floors, saved)
                    for channel, _ in due:
                        self._oldest.pop(channel, None)
            return sweep.total

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
