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
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import msgpack

from ..protocol.errors import AblyError, internal
from ..protocol.message import Message
from ..protocol.serial import COUNTER_LIMIT, Position, next_seq
from ..protocol.wire import Format
from .base import Engine, HistoryQuery, Publication, check_batch
from .epoch import new_epoch

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS channels (name TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID",
    (
        "CREATE TABLE IF NOT EXISTS messages ("
        " channel TEXT NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL, body BLOB NOT NULL,"
        " PRIMARY KEY (channel, seq, idx)) WITHOUT ROWID"
    ),
)
_INSERT_MESSAGE = "INSERT INTO messages (channel, seq, idx, body) VALUES (?, ?, ?, ?)"
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


class SqliteEngine(Engine):
    """`epoch` is known after `open()`; `commits` counts committed transactions (group commit)."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
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

    async def open(self) -> None:
        self._lock_store()
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._configure(self._db)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._create_schema(self._db)
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

    async def append(self, channel: str, messages: list[Message], now_ms: int) -> Publication:
        if self._wake is None or self._closing:
            raise internal("The sqlite engine is not open")
        check_batch(messages)
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
        pending = _Pending(Publication(channel, position, messages), rows, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._wake.set()
        return await pending.future

    async def head(self, channel: str) -> Position:
        return Position(self._committed.get(channel, 0), self.epoch)

    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        if self._reader is None:
            raise internal("The sqlite engine is not open")
        if query.limit <= 0:
            return []
        sql, params = history_sql(channel, query)
        rows = await self._reader.execute_fetchall(sql, params)
        return [unpack_message(row[0]) for row in rows]

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
            await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        """One transaction for the whole batch; notify and resolve only once it is committed."""
        assert self._db is not None
        heads: dict[str, int] = {}
        rows: list[tuple[str, int, int, bytes]] = []
        for pending in batch:
            heads[pending.publication.channel] = pending.publication.position.seq
            rows.extend(pending.rows)
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            await self._db.executemany(_INSERT_MESSAGE, rows)
            await self._db.executemany(_UPSERT_CHANNEL, heads.items())
            await self._db.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - whatever broke the commit fails this batch, not the writer
            log.error("commit of %d publications failed: %s", len(batch), exc)
            await self._rollback()
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(internal(f"Could not persist the message: {exc}"))
            return
        self.commits += 1
        self._committed.update(heads)
        for pending in batch:
            try:
                self._notify(pending.publication)
            except Exception:  # a faulty listener must not fail appends that are committed
                log.exception("publication listener failed on %s", pending.publication.channel)
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(pending.publication)

    async def _rollback(self) -> None:
        assert self._db is not None
        try:
            if self._db.in_transaction:
                await self._db.execute("ROLLBACK")
        except Exception as exc:  # noqa: BLE001 - a failed rollback must not kill the writer either
            log.error("rollback failed: %s", exc)
