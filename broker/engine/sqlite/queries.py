"""Reads on their own aiosqlite connection: history, one message, its versions, replay.

Reads are not on the publish path: under WAL they run alongside a commit, and a slow history
query cannot hold up an ACK. Every read folds committed mutation parts into the messages it
returns, so callers see aggregates.
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from ...protocol.errors import AblyError
from ...protocol.message import Message
from ...protocol.serial import COUNTER_LIMIT, parse_serial, seq_of_serial
from ..base import HistoryQuery
from ..mutations import fold, versions_of
from .schema import unpack_message

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _seq(value: int) -> int:
    """A position bound SQLite can hold: a time far past or future compares like the int64 limit."""
    return min(max(value, _INT64_MIN), _INT64_MAX)


_ONE = "SELECT body FROM messages WHERE channel = ? AND seq = ? AND idx = ?"


def history_sql(channel: str, query: HistoryQuery) -> tuple[str, list[object]]:
    """The SQL twin of `query.matches` + ordering + limit, served from the primary key."""
    clauses = ["channel = ?"]
    params: list[object] = [channel]
    if query.after is not None:
        clauses.append("seq > ?")
        params.append(_seq(query.after))
    if query.until is not None:
        clauses.append("seq <= ?")
        params.append(_seq(query.until))
    if query.start is not None:
        clauses.append("seq >= ?")
        params.append(_seq(query.start * COUNTER_LIMIT))
    if query.end is not None:
        clauses.append("seq < ?")
        params.append(_seq((query.end + 1) * COUNTER_LIMIT))
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


class Reader:
    """The read-only connection of one store."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path, busy_timeout_ms: int) -> Reader:
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            await db.execute("PRAGMA query_only=1")
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        await self._db.execute_fetchall("SELECT 1 FROM channels LIMIT 1")

    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        if query.limit <= 0:
            return []
        sql, params = history_sql(channel, query)
        rows = await self._db.execute_fetchall(sql, params)
        return await self.fold_parts(channel, [unpack_message(row[0]) for row in rows], query.until)

    async def fold_parts(self, channel: str, messages: list[Message], until: int | None) -> list[Message]:
        """Fold committed mutation parts (up to `until`) into each message."""
        if not messages:
            return messages
        seqs = [seq_of_serial(m.serial or "") for m in messages]
        sql = ("SELECT target_seq, target_idx, body FROM parts WHERE channel = ? AND target_seq BETWEEN ? AND ?"
               + (" AND first_vseq <= ?" if until is not None else "") + " ORDER BY target_seq, target_idx, vseq")
        params: list[object] = [channel, min(seqs), max(seqs)] + ([until] if until is not None else [])
        parts: dict[tuple[int, int], list[Message]] = {}
        for tseq, tidx, body in await self._db.execute_fetchall(sql, params):
            parts.setdefault((int(tseq), int(tidx)), []).append(unpack_message(body))
        if not parts:
            return messages
        out = []
        for message, seq in zip(messages, seqs):
            for part in parts.get((seq, int((message.serial or "")[-3:])), ()):
                message = fold(message, part)
            out.append(message)
        return out

    async def _original(self, channel: str, seq: int, index: int) -> Message | None:
        rows = list(await self._db.execute_fetchall(_ONE, (channel, seq, index)))
        return unpack_message(rows[0][0]) if rows else None

    async def load(self, channel: str, serial: str, epoch: str) -> Message | None:
        """The latest aggregate of one message of this store (`epoch`), or None."""
        try:
            position, index = parse_serial(serial)
        except AblyError:
            return None
        if position.epoch != epoch:
            return None
        original = await self._original(channel, position.seq, index)
        return None if original is None else (await self.fold_parts(channel, [original], None))[0]

    async def versions(self, channel: str, serial: str) -> list[Message]:
        try:
            position, index = parse_serial(serial)
        except AblyError:
            return []
        original = await self._original(channel, position.seq, index)
        if original is None:
            return []
        parts = await self._db.execute_fetchall(
            "SELECT body FROM parts WHERE channel = ? AND target_seq = ? AND target_idx = ? ORDER BY vseq",
            (channel, position.seq, index))
        return versions_of(original, [unpack_message(p[0]) for p in parts])

    async def replay(self, channel: str, after: int, until: int) -> list[Message]:
        created = await self._db.execute_fetchall(
            "SELECT seq, body FROM messages WHERE channel = ? AND seq > ? AND seq <= ? ORDER BY seq, idx",
            (channel, after, until))
        touched = await self._db.execute_fetchall(
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
            original = await self._original(channel, tseq, tidx)
            if original is not None:
                messages[(tseq, tidx)] = original
        ordered = sorted((pos, key) for key, pos in latest.items() if key in messages)
        return await self.fold_parts(channel, [messages[key] for _, key in ordered], until)
