"""A durable single-process engine on SQLite (WAL), with group commit.

`append` assigns the channel position synchronously, so call order is channel order, then
queues its rows for the one writer task. The writer drains everything queued into a single
transaction, commits, and only then notifies the listener (in order) and resolves the
appenders: an append never returns before its commit. With WAL and synchronous=NORMAL a
committed transaction is in the WAL file, so it survives `kill -9` of the process; an OS crash
or power cut may still lose the commits made since the WAL was last synced.

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
from collections import OrderedDict
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import msgpack

from ..protocol.actions import MessageAction
from ..protocol.errors import AblyError, internal, not_found
from ..protocol.message import Message
from ..protocol.serial import COUNTER_LIMIT, Position, next_seq, parse_serial, seq_of_serial
from ..protocol.wire import Format
from .base import Authorizer, Engine, HistoryQuery, Publication, check_batch
from .mutations import check_appendable, delivery, fold, merge_appends, stamp_part, stored_form, versions_of
from .dedup import DEFAULT_WINDOW_MS, Claim, DedupIndex
from .epoch import new_epoch
from .retention import RetentionPolicy

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


class SqliteEngine(Engine):
    """`epoch` is known after `open()`; `commits` counts committed transactions (group commit)."""

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
        self._queue: list[_Pending] = []
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # Latest aggregates of recently mutated messages, so a stream of appends never reads.
        self._current: OrderedDict[tuple[str, str], Message] = OrderedDict()
        self._loading: dict[tuple[str, str], asyncio.Future[Message | None]] = {}
        self._runs: dict[tuple[str, str], list[tuple[int, Message]]] = {}  # appends not yet compacted
        self.retention = retention or RetentionPolicy()
        self._dedup = DedupIndex(dedup_window_ms)
        self._ids_dirty = False  # idempotency rows may be waiting to be purged
        self._floors: dict[str, int] = {}
        self._counts: dict[str, int] = {}  # messages stored, for channels with a count limit
        self._oldest: dict[str, int] = {}  # lowest stored seq (a lower bound), for channels with a TTL
        self._in_flight: list[_Pending] = []
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self._lock_store()
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._configure(self._db)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._create_schema(self._db)
            await self._load_retained_state(self._db)
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
        rows = await self._reader.execute_fetchall(
            "SELECT body FROM messages WHERE channel = ? AND seq = ? AND idx = ?", (channel, position.seq, index))
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
        current = await self._latest(channel, serial)
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
        self._queue.append(pending)
        self._wake.set()
        return await pending.future

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
        rows = await self._reader.execute_fetchall(
            "SELECT body FROM messages WHERE channel = ? AND seq = ? AND idx = ?", (channel, position.seq, index))
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
            rows = await self._reader.execute_fetchall(
                "SELECT body FROM messages WHERE channel = ? AND seq = ? AND idx = ?", (channel, tseq, tidx))
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

    async def _create_schema(self, db: aiosqlite.Connection) -> None:
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                await db.execute(statement)
            await db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)", (new_epoch(),))
            await db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
            meta_rows = await db.execute_fetchall("SELECT key, value FROM meta")
            meta: dict[str, str] = {str(key): str(value) for key, value in meta_rows}
            channels = await db.execute_fetchall("SELECT name, last_seq FROM channels")
            await db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise
        if meta["schema"] != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} has schema {meta['schema']}, this broker needs {SCHEMA_VERSION}")
        self.epoch = meta["epoch"]
        self._committed = {str(name): int(last_seq) for name, last_seq in channels}
        self._assigned = dict(self._committed)

    async def _release(self) -> None:
        for db in (self._reader, self._db):
            if db is not None:
                await db.close()
        self._reader = self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _write_loop(self) -> None:
        assert self._wake is not None
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._queue = self._queue, []
            self._in_flight = batch
            async with self._write_lock:
                await self._commit(batch)
            self._in_flight = []

    async def _commit(self, batch: list[_Pending]) -> None:
        """One transaction for the whole batch; notify and resolve only once it is committed."""
        assert self._db is not None
        heads: dict[str, int] = {}
        rows: list[tuple[str, int, int, bytes]] = []
        parts: list[tuple[str, int, int, int, int, bytes]] = []
        folds: list[tuple[str, int, int, int, int, bytes]] = []
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
        limited = {ch: n for ch, n in added.items() if self.retention.max_count(ch) is not None} if self.retention else {}
        saved = ({ch: self._counts.get(ch) for ch in limited}, {ch: self._floors.get(ch) for ch in limited})
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            await self._db.executemany(_INSERT_MESSAGE, rows)
            if parts:
                await self._db.executemany(_INSERT_PART, parts)
            for channel, target_seq, target_idx, first, last, body in folds:
                await self._db.execute(_DELETE_RUN, (channel, target_seq, target_idx, first, last))
                await self._db.execute(_INSERT_PART, (channel, last, first, target_seq, target_idx, body))
            if ids:
                await self._db.executemany(_INSERT_ID, ids)
            await self._db.executemany(_UPSERT_CHANNEL, heads.items())
            for channel, count in limited.items():
                await self._enforce_max_count(channel, count)
            await self._db.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - whatever broke the commit fails this batch, not the writer
            log.error("commit of %d publications failed: %s", len(batch), exc)
            await self._rollback()
            self._restore(self._counts, saved[0])
            self._restore(self._floors, saved[1])
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

    # -- retention ------------------------------------------------------------------------

    async def _load_retained_state(self, db: aiosqlite.Connection) -> None:
        """Floors, and the idempotency keys still inside their window (a restart keeps them)."""
        self._floors = {str(ch): int(seq) for ch, seq in await db.execute_fetchall("SELECT channel, seq FROM floors")}
        now = time.time_ns() // 1_000_000
        rows = await db.execute_fetchall(
            "SELECT channel, id, serial, expires FROM idempotency WHERE expires > ? ORDER BY expires", (now,))
        for channel, key, serial, expires in rows:
            self._dedup.load(str(channel), str(key), str(serial), int(expires))
        self._ids_dirty = True

    async def floor(self, channel: str) -> Position:
        return Position(self._floors.get(channel, 0), self.epoch)

    async def trim(self, now_ms: int) -> int:
        self._dedup.expire(now_ms)
        if self._db is None or self._closing:
            return 0
        due = [ch for ch in self._committed if self._ttl_due(ch, now_ms)] if self.retention else []
        purge_ids = self._ids_dirty or len(self._dedup) > 0
        if not due and not purge_ids:
            return 0
        removed = 0
        async with self._write_lock:
            saved = ({ch: self._counts.get(ch) for ch in due}, {ch: self._floors.get(ch) for ch in due})
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                for channel in due:
                    if removed >= TRIM_BUDGET:
                        break
                    removed += await self._expire_channel(channel, now_ms, TRIM_BUDGET - removed)
                if purge_ids:
                    await self._db.execute("DELETE FROM idempotency WHERE expires <= ?", (now_ms,))
                await self._db.execute("COMMIT")
            except BaseException:  # cancelled too: never leave the writer connection inside a transaction
                await self._rollback()
                self._restore(self._counts, saved[0])
                self._restore(self._floors, saved[1])
                for channel in due:
                    self._oldest.pop(channel, None)
                raise
        self._ids_dirty = False
        return removed

    def _ttl_due(self, channel: str, now_ms: int) -> bool:
        cutoff = self.retention.ttl_cutoff_seq(channel, now_ms, COUNTER_LIMIT)
        return cutoff is not None and self._oldest.get(channel, 0) < cutoff

    async def _expire_channel(self, channel: str, now_ms: int, budget: int) -> int:
        """Delete up to `budget` of the channel's messages older than its TTL (a long backlog of
        expired messages goes over several sweeps, so no sweep holds up commits for long)."""
        assert self._db is not None
        cutoff = self.retention.ttl_cutoff_seq(channel, now_ms, COUNTER_LIMIT)
        assert cutoff is not None
        rows = list(await self._db.execute_fetchall(
            "SELECT seq, idx FROM messages WHERE channel = ? AND seq < ? ORDER BY seq, idx LIMIT 1 OFFSET ?",
            (channel, cutoff, budget - 1)))
        if not rows:
            rows = list(await self._db.execute_fetchall(
                "SELECT seq, idx FROM messages WHERE channel = ? AND seq < ? ORDER BY seq DESC, idx DESC LIMIT 1",
                (channel, cutoff)))
        removed = await self._delete_through(channel, int(rows[0][0]), int(rows[0][1])) if rows else 0
        first = list(await self._db.execute_fetchall(
            "SELECT seq FROM messages WHERE channel = ? ORDER BY seq LIMIT 1", (channel,)))
        self._oldest[channel] = int(first[0][0]) if first else self._assigned.get(channel, 0) + 1
        return removed

    async def _enforce_max_count(self, channel: str, added: int) -> None:
        """Inside the commit: delete the oldest messages beyond the channel's count limit."""
        assert self._db is not None
        limit = self.retention.max_count(channel)
        assert limit is not None
        if channel in self._counts:
            count = self._counts[channel] + added
        else:
            total = list(await self._db.execute_fetchall("SELECT COUNT(*) FROM messages WHERE channel = ?", (channel,)))
            count = int(total[0][0])
        if count > limit:
            last = list(await self._db.execute_fetchall(
                "SELECT seq, idx FROM messages WHERE channel = ? ORDER BY seq, idx LIMIT 1 OFFSET ?",
                (channel, count - limit - 1)))
            count -= await self._delete_through(channel, int(last[0][0]), int(last[0][1]))
        self._counts[channel] = count

    async def _delete_through(self, channel: str, seq: int, idx: int) -> int:
        """Delete messages up to (seq, idx) inclusive, their versions, and raise the floor.

        The floor is raised in memory before the delete commits: an attach that reads its
        backlog and then checks the floor can never miss a deletion (it may, at worst, report
        a discontinuity a moment early).
        """
        assert self._db is not None
        self._floors[channel] = max(self._floors.get(channel, 0), seq)
        cursor = await self._db.execute(
            "DELETE FROM messages WHERE channel = ? AND (seq < ? OR (seq = ? AND idx <= ?))", (channel, seq, seq, idx))
        removed = cursor.rowcount
        await self._db.execute(
            "DELETE FROM parts WHERE channel = ? AND (target_seq < ? OR (target_seq = ? AND target_idx <= ?))",
            (channel, seq, seq, idx))
        await self._db.execute(_UPSERT_FLOOR, (channel, self._floors[channel]))
        for key in [k for k in self._current if k[0] == channel and seq_of_serial(k[1]) <= seq]:
            del self._current[key]
        if channel in self._counts:
            self._counts[channel] -= removed
        return removed

    @staticmethod
    def _restore(state: dict[str, int], saved: dict[str, int | None]) -> None:
        for channel, value in saved.items():
            if value is None:
                state.pop(channel, None)
            else:
                state[channel] = value

    async def _rollback(self) -> None:
        assert self._db is not None
        try:
            if self._db.in_transaction:
                await self._db.execute("ROLLBACK")
        except Exception as exc:  # noqa: BLE001 - a failed rollback must not kill the writer either
            log.error("rollback failed: %s", exc)
