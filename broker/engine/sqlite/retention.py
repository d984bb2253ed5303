"""Retention deletes on the writer connection: count limits inside a group commit, TTLs in a sweep.

Both raise the channel's floor (the highest position deleted) before the delete commits; see
`delete_through` for why that order is safe.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from .schema import immediate

TRIM_BUDGET = 10_000  # messages one retention sweep deletes at most
_UPSERT_FLOOR = "INSERT INTO floors (channel, seq) VALUES (?, ?) ON CONFLICT (channel) DO UPDATE SET seq = excluded.seq"


@dataclass(slots=True)
class Sweep:
    """One TTL sweep. The thread fills in the outcome; `committed` says whether it counts."""

    due: list[tuple[str, int, int]]  # (channel, TTL cutoff seq, last assigned seq)
    budget: int
    purge_ids_before: int | None
    removed: dict[str, int] = field(default_factory=dict)
    cuts: dict[str, int] = field(default_factory=dict)  # channel -> highest seq deleted
    oldest: dict[str, int] = field(default_factory=dict)
    total: int = 0
    committed: bool = False


def sweep(conn: sqlite3.Connection, job: Sweep, floors: dict[str, int]) -> None:
    """Delete messages past their TTL, at most `budget` in all (a long backlog goes over several
    sweeps, so no sweep holds up commits for long), and idempotency ids past their window."""
    with immediate(conn):
        for channel, cutoff, assigned in job.due:
            if job.total >= job.budget:
                break
            row = conn.execute(
                "SELECT seq, idx FROM messages WHERE channel = ? AND seq < ? ORDER BY seq, idx LIMIT 1 OFFSET ?",
                (channel, cutoff, job.budget - job.total - 1)).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT seq, idx FROM messages WHERE channel = ? AND seq < ? ORDER BY seq DESC, idx DESC LIMIT 1",
                    (channel, cutoff)).fetchone()
            if row is not None:
                removed = delete_through(conn, channel, int(row[0]), int(row[1]), floors)
                job.removed[channel] = removed
                job.total += removed
                job.cuts[channel] = int(row[0])
            first = conn.execute("SELECT seq FROM messages WHERE channel = ? ORDER BY seq LIMIT 1",
                                 (channel,)).fetchone()
            job.oldest[channel] = int(first[0]) if first is not None else assigned + 1
        if job.purge_ids_before is not None:
            conn.execute("DELETE FROM idempotency WHERE expires <= ?", (job.purge_ids_before,))
    job.committed = True


def drop_logs(conn: sqlite3.Connection, logs: list[tuple[str, int]], floors: dict[str, int]) -> int:
    """Delete whole logs, given as (channel, last assigned seq): messages, versions, idempotency
    ids; each floor rises to the log's head first (see `delete_through`). Returns messages removed."""
    removed = 0
    with immediate(conn):
        for channel, assigned in logs:
            floors[channel] = max(floors.get(channel, 0), assigned)
            removed += conn.execute("DELETE FROM messages WHERE channel = ?", (channel,)).rowcount
            conn.execute("DELETE FROM parts WHERE channel = ?", (channel,))
            conn.execute("DELETE FROM idempotency WHERE channel = ?", (channel,))
            conn.execute(_UPSERT_FLOOR, (channel, floors[channel]))
    return removed


def trim_to_count(conn: sqlite3.Connection, channel: str, count: int, limit: int,
                  floors: dict[str, int]) -> tuple[int, int]:
    """Delete the channel's oldest messages beyond `limit` (it holds `count`).

    Returns (messages removed, highest seq deleted); (0, 0) when it was within the limit."""
    if count <= limit:
        return 0, 0
    seq, idx = conn.execute("SELECT seq, idx FROM messages WHERE channel = ? ORDER BY seq, idx LIMIT 1 OFFSET ?",
                            (channel, count - limit - 1)).fetchone()
    return delete_through(conn, channel, int(seq), int(idx), floors), int(seq)


def delete_through(conn: sqlite3.Connection, channel: str, seq: int, idx: int, floors: dict[str, int]) -> int:
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
