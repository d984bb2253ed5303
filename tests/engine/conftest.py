"""Engine fixtures: each engine kind is one parameter, so a new engine joins the contract by adding one."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest

from broker.engine.base import Engine, Publication
from broker.engine.memory import MemoryEngine
from broker.engine.sqlite import SqliteEngine

CLOSE_TIMEOUT = 10.0


@dataclass(frozen=True)
class EngineKind:
    """How to build one engine, and how to read what its store holds without going through it."""

    name: str
    build: Callable[..., Engine]  # (directory, **engine options)
    stored_serials: Callable[[Engine, str], list[str]]


def _memory_serials(engine: Engine, channel: str) -> list[str]:
    """The memory engine's store is its in-process log: what is there is as durable as it gets."""
    assert isinstance(engine, MemoryEngine)
    log = engine._logs.get(channel)
    return [str(message.serial) for _, _, message in log.items] if log else []


def _sqlite_serials(engine: Engine, channel: str) -> list[str]:
    """Read the file through a separate SQLite connection: only committed rows are visible."""
    assert isinstance(engine, SqliteEngine)
    with closing(sqlite3.connect(engine.path)) as db:
        rows = db.execute("SELECT body FROM messages WHERE channel = ? ORDER BY seq, idx", (channel,)).fetchall()
    return [msgpack.unpackb(body)["serial"] for (body,) in rows]


KINDS = [
    EngineKind("memory", lambda _tmp, **options: MemoryEngine(**options), _memory_serials),
    EngineKind("sqlite", lambda tmp, **options: SqliteEngine(tmp / "engine.db", **options), _sqlite_serials),
]


@pytest.fixture(params=KINDS, ids=[kind.name for kind in KINDS])
def kind(request: pytest.FixtureRequest) -> EngineKind:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def engine(kind: EngineKind, tmp_path: Path) -> AsyncIterator[Engine]:
    built = kind.build(tmp_path)
    await asyncio.wait_for(built.open(), CLOSE_TIMEOUT)
    yield built
    await asyncio.wait_for(built.close(), CLOSE_TIMEOUT)


def hear_all(engine: Engine, receiver: Callable[[Publication], None]) -> None:
    """Connect `receiver` to the engine's bus for every log (the empty prefix matches all keys)."""
    engine.bus.connect(receiver)
    engine.bus.subscribe_prefix("")
