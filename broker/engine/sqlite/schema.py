"""What the SQLite store holds: its tables, how a message becomes a row, and opening it.

Rows hold the msgpack wire form of a message (`pack_message`), so bytes stay bytes and text
with lone surrogates survives; `unpack_message` rebuilds it without re-running inbound
normalisation. The store names its epoch in `meta`, so a new file is a new stream.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from ...protocol.message import Message
from ...protocol.wire import Format

log = logging.getLogger("broker.engine.sqlite")

SCHEMA_VERSION = "3"
SCHEMA = (
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


@dataclass(slots=True)
class Stored:
    """What the store holds at open: meta, channel heads, floors, live idempotency ids."""

    epoch: str
    schema: str
    channels: dict[str, int]
    floors: dict[str, int]
    ids: list[tuple[str, str, str, int]]


class Busy(sqlite3.OperationalError):
    """The store's write lock is held by another connection (a tool, a backup)."""


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that is committed, or rolled back whatever ended it.

    Raises `Busy` if another connection holds the write lock past the busy timeout (zero
    inline): nothing was written, so the caller may try again where waiting is allowed."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
            raise Busy(str(exc)) from exc
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


def open_store(path: Path, busy_timeout_ms: int, epoch: str, now_ms: int) -> tuple[sqlite3.Connection, Stored]:
    """Connect the writer, create the schema if new, and read what the engine keeps in memory."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # serialised by the engine
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # opening may wait; commits say (`waiting`)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        with immediate(conn):
            for statement in SCHEMA:
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
    return conn, Stored(meta["epoch"], meta["schema"], channels, floors, ids)
