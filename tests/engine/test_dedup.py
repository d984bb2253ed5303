"""Idempotent publishing, part of the engine contract: a client-supplied id is stored once per window."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest

from broker.engine.base import Engine, HistoryQuery, Publication
from broker.engine.sqlite import SqliteEngine
from broker.protocol.errors import AblyError
from broker.protocol.message import Message

from .conftest import CLOSE_TIMEOUT, EngineKind, hear_all

TIMEOUT = 15.0
ALL = HistoryQuery(direction="forwards", limit=1000)


@asynccontextmanager
async def built(kind: EngineKind, directory: Path, **options: object) -> AsyncIterator[Engine]:
    engine = kind.build(directory, **options)
    await asyncio.wait_for(engine.open(), CLOSE_TIMEOUT)
    try:
        yield engine
    finally:
        await asyncio.wait_for(engine.close(), CLOSE_TIMEOUT)


def batch(*data: str) -> list[Message]:
    return [Message(name="n", data=d, id=d) for d in data]


def heard_by(engine: Engine) -> list[Publication]:
    heard: list[Publication] = []
    hear_all(engine, heard.append)
    return heard


async def test_a_repeated_id_is_answered_with_the_first_serial_and_stored_once(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard = heard_by(engine)
        first = await engine.append("d", batch("a:0", "a:1"), 1000, idempotency_keys=["a:0", "a:1"])
        again = await engine.append("d", batch("a:0", "a:1"), 1500, idempotency_keys=["a:0", "a:1"])
        assert [m.serial for m in again.messages] == [m.serial for m in first.messages]
        assert [m.timestamp for m in again.messages] == [1000, 1000]
        assert again.position == first.position
        assert [m.data for m in await engine.history("d", ALL)] == ["a:0", "a:1"]
        assert [[m.data for m in pub.messages] for pub in heard] == [["a:0", "a:1"]]


async def test_a_partly_repeated_publish_stores_only_the_new_messages(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard = heard_by(engine)
        first = await engine.append("p", batch("x"), 1000, idempotency_keys=["x"])
        mixed = await engine.append("p", batch("y", "x", "z"), 2000, idempotency_keys=["y", "x", "z"])
        assert [m.data for m in mixed.messages] == ["y", "x", "z"]
        assert mixed.messages[1].serial == first.messages[0].serial
        assert mixed.messages[0].serial != mixed.messages[2].serial
        assert {m.serial for m in mixed.messages[::2]} == {m.serial for m in heard[-1].messages}
        assert [m.data for m in await engine.history("p", ALL)] == ["x", "y", "z"]


async def test_unkeyed_messages_and_other_channels_are_never_deduplicated(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        await engine.append("u", batch("k"), 1000, idempotency_keys=["k"])
        await engine.append("u", batch("k"), 1001, idempotency_keys=[None])
        await engine.append("u", batch("k"), 1002)
        await engine.append("u-other", batch("k"), 1003, idempotency_keys=["k"])
        assert [m.data for m in await engine.history("u", ALL)] == ["k", "k", "k"]
        assert [m.data for m in await engine.history("u-other", ALL)] == ["k"]


async def test_concurrent_and_in_batch_repeats_store_one_copy(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        results = await asyncio.gather(*(engine.append("c", batch("same"), 1000 + i, idempotency_keys=["same"])
                                         for i in range(5)))
        assert len({pub.messages[0].serial for pub in results}) == 1
        twice = await engine.append("c", batch("t", "t"), 2000, idempotency_keys=["t", "t"])
        assert twice.messages[0].serial == twice.messages[1].serial
        assert [m.data for m in await engine.history("c", ALL)] == ["same", "t"]


async def test_an_id_is_stored_again_once_its_window_has_passed(kind: EngineKind, tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT), built(kind, tmp_path, dedup_window_ms=1000) as engine:
        first = await engine.append("w", batch("id"), 10_000, idempotency_keys=["id"])
        inside = await engine.append("w", batch("id"), 10_999, idempotency_keys=["id"])
        await engine.trim(11_000)
        after = await engine.append("w", batch("id"), 11_001, idempotency_keys=["id"])
        assert inside.messages[0].serial == first.messages[0].serial
        assert after.messages[0].serial != first.messages[0].serial
        assert len(await engine.history("w", ALL)) == 2


async def test_a_zero_window_turns_deduplication_off(kind: EngineKind, tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT), built(kind, tmp_path, dedup_window_ms=0) as engine:
        await engine.append("off", batch("id"), 1000, idempotency_keys=["id"])
        await engine.append("off", batch("id"), 1001, idempotency_keys=["id"])
        assert len(await engine.history("off", ALL)) == 2


async def test_mismatched_keys_are_a_caller_bug(engine: Engine) -> None:
    with pytest.raises(ValueError):
        await engine.append("bad", batch("a", "b"), 1000, idempotency_keys=["a"])


# -- sqlite: the ids are as durable as the messages --------------------------------------


async def test_sqlite_remembers_ids_across_a_restart(tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        path = tmp_path / "ids.db"
        now = time.time_ns() // 1_000_000  # reopening keeps the ids still inside their window by the wall clock
        engine = SqliteEngine(path)
        await engine.open()
        first = await engine.append("r", batch("r:0", "r:1"), now, idempotency_keys=["r:0", "r:1"])
        await engine.close()

        reopened = SqliteEngine(path)
        await reopened.open()
        try:
            again = await reopened.append("r", batch("r:0", "r:1", "r:2"), now + 1000,
                                          idempotency_keys=["r:0", "r:1", "r:2"])
            assert [m.serial for m in again.messages[:2]] == [m.serial for m in first.messages]
            assert [m.data for m in await reopened.history("r", ALL)] == ["r:0", "r:1", "r:2"]
        finally:
            await reopened.close()


async def test_sqlite_a_failed_commit_frees_the_id_and_fails_its_waiters(tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        engine = SqliteEngine(tmp_path / "fail.db")
        await engine.open()
        try:
            with closing(sqlite3.connect(engine.path, isolation_level=None)) as db:  # the engine's writer sees it too
                db.execute("CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.channel = 'f'"
                           " BEGIN SELECT RAISE(ABORT, 'no'); END")
            results = await asyncio.gather(engine.append("f", batch("f1"), 1000, idempotency_keys=["f1"]),
                                           engine.append("f", batch("f1"), 1001, idempotency_keys=["f1"]),
                                           return_exceptions=True)
            assert all(isinstance(r, AblyError) and r.code == 50000 for r in results), results
            with closing(sqlite3.connect(engine.path, isolation_level=None)) as db:
                db.execute("DROP TRIGGER refuse")
            retried = await engine.append("f", batch("f1"), 1002, idempotency_keys=["f1"])
            assert [m.serial for m in await engine.history("f", ALL)] == [retried.messages[0].serial]
        finally:
            await engine.close()
