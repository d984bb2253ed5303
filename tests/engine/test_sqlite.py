"""What only a durable store promises: restarts, hard kills, wiped files, group commit, commit failure."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest

from broker.engine.base import HistoryQuery, Publication
from broker.engine.retention import RetentionPolicy, parse_rule
from broker.engine.sqlite import INLINE_AFTER_IDLE, SqliteEngine
from broker.protocol.errors import AblyError
from broker.protocol.message import Message
from broker.protocol.serial import Position, parse_serial
from broker.protocol.wire import Format

from .conftest import hear_all

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0
ALL = HistoryQuery(direction="forwards", limit=100_000)

# A publisher that prints each serial only once its append has returned (= acknowledged).
KILLED_PUBLISHER = """
import asyncio, sys, time
from broker.engine.sqlite import SqliteEngine
from broker.protocol.message import Message

async def publisher(engine, worker):
    for i in range(100_000):
        message = Message(name="kill", data=f"{worker}-{i}")
        await engine.append("kill", [message], int(time.time() * 1000))
        sys.stdout.write(f"{message.serial} {message.data}\\n")
        sys.stdout.flush()

async def main():
    engine = SqliteEngine(sys.argv[1])
    await engine.open()
    await asyncio.gather(*(publisher(engine, w) for w in range(8)))

asyncio.run(main())
"""


@asynccontextmanager
async def opened(path: Path, **kwargs: int) -> AsyncIterator[SqliteEngine]:
    engine = SqliteEngine(path, **kwargs)
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


async def test_data_epoch_and_serials_continue_after_reopen(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with opened(store) as first:
            pubs = [
                await first.append("r", [Message(data=f"d{i}"), Message(data=b"\x00")], 10_000 + i) for i in range(5)
            ]
            other = await first.append("other", [Message(data="o")], 10_000)
            epoch = first.epoch
            before = [m.to_wire(Format.MSGPACK) for m in await first.history("r", ALL)]
        async with opened(store) as second:
            assert second.epoch == epoch
            assert await second.head("r") == pubs[-1].position
            assert await second.head("other") == other.position
            assert [m.to_wire(Format.MSGPACK) for m in await second.history("r", ALL)] == before
            assert len(before) == 10
            later = await second.append("r", [Message(data="after restart")], 1)  # the clock is far behind
            assert later.position.epoch == epoch
            assert str(later.messages[0].serial) > str(pubs[-1].messages[-1].serial)


async def test_acknowledged_appends_survive_kill_9(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", KILLED_PUBLISHER, str(store), stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env
        )
        assert child.stdout is not None
        acked: list[str] = []
        try:
            while len(acked) < 2000:
                line = await child.stdout.readline()
                assert line, "the publisher exited before it was killed"
                acked.append(line.decode())
        finally:
            child.send_signal(signal.SIGKILL)
        tail = (await child.stdout.read()).decode()
        assert await child.wait() == -signal.SIGKILL
        acked += tail.splitlines(keepends=True)
        acked_pairs = dict(line.split() for line in acked if line.endswith("\n"))

        async with opened(store) as engine:
            stored = await engine.history("kill", ALL)
            stored_serials = [str(m.serial) for m in stored]
            assert len(stored_serials) == len(set(stored_serials))
            assert stored_serials == sorted(stored_serials)
            stored_data = {str(m.serial): m.data for m in stored}
            for serial, data in acked_pairs.items():
                assert stored_data.get(serial) == data, serial
            epoch = parse_serial(stored_serials[-1])[0].epoch
            assert engine.epoch == epoch
            new = await engine.append("kill", [Message(data="after kill")], 1)
            assert str(new.messages[0].serial) > stored_serials[-1]


async def test_a_wiped_store_gets_a_new_epoch(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with opened(store) as first:
            await first.append("w", [Message(data="gone")], 1000)
            old_epoch = first.epoch
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        async with opened(store) as second:
            assert second.epoch != old_epoch
            assert await second.head("w") == Position.origin(second.epoch)
            assert await second.history("w", ALL) == []


async def test_group_commit_batches_concurrent_appends(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with opened(store) as engine:
            for i in range(5):
                await engine.append("g", [Message(data=str(i))], 1)
            assert engine.commits == 5  # an append waits for its commit, so sequential ones cannot share
            pubs = await asyncio.gather(*(engine.append("g", [Message(data=f"c{i}")], 2) for i in range(1000)))
            batches = engine.commits - 5
            assert 1 <= batches <= 20
            assert len({pub.position for pub in pubs}) == 1000
            assert len(await engine.history("g", ALL)) == 1005


async def test_commits_after_a_pause_run_inline_and_back_to_back_ones_on_the_thread(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with opened(store) as engine:
            before = threading.active_count()
            for i in range(5):
                await asyncio.sleep(2 * INLINE_AFTER_IDLE)  # the writer idles: what a paced stream does
                await engine.append("p", [Message(data=str(i))], 1)
            assert (engine.commits, engine.inline_commits) == (5, 5)
            pubs = await asyncio.gather(*(engine.append("p", [Message(data=f"b{i}")], 1) for i in range(500)))
            assert len({pub.position for pub in pubs}) == 500
            assert engine.inline_commits <= 6, "a burst of appends is committed on the writer thread"
            assert threading.active_count() == before
            assert [m.data for m in await engine.history("p", HistoryQuery(limit=5, direction="forwards"))] == \
                ["0", "1", "2", "3", "4"]


async def test_an_inline_commit_on_a_locked_store_waits_on_the_thread(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with opened(store) as engine:
            await engine.append("l", [Message(data="first")], 1)
            with closing(sqlite3.connect(store, isolation_level=None)) as blocker:
                blocker.execute("BEGIN IMMEDIATE")
                await asyncio.sleep(2 * INLINE_AFTER_IDLE)  # so the next commit is tried inline
                pending = asyncio.create_task(engine.append("l", [Message(data="second")], 2))
                done, _ = await asyncio.wait({pending}, timeout=0.2)
                assert not done, "the commit waits for the lock (on the thread: this loop keeps running)"
                blocker.execute("ROLLBACK")
            await pending
            inline = engine.inline_commits
            await asyncio.sleep(2 * INLINE_AFTER_IDLE)
            await engine.append("l", [Message(data="third")], 3)
            assert engine.inline_commits == inline + 1, "the same kind of commit on a free store runs inline"
            assert [m.data for m in await engine.history("l", ALL)] == ["first", "second", "third"]


async def test_the_wal_is_checkpointed_off_the_event_loop_while_writing(store: Path) -> None:
    # Small commits run inline with auto-checkpointing off; without the engine's own checkpoints
    # these 1,500 commits leave a WAL of ~16 MB (measured), with them it stays near 4 MB.
    async with asyncio.timeout(TIMEOUT):
        async with opened(store) as engine:
            for _ in range(1500):
                await engine.append("w", [Message(data="x" * 100)], 1)
            assert engine.checkpoints >= 3
            assert os.path.getsize(f"{store}-wal") < 8 * 2**20
            assert len(await engine.history("w", HistoryQuery(limit=1000))) == 1000


async def test_append_returns_only_after_commit_and_head_ignores_uncommitted(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with opened(store) as engine:
            first = await engine.append("a", [Message(data="first")], 1)
            with closing(sqlite3.connect(store, isolation_level=None)) as blocker:
                blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: no commit can happen
                pending = asyncio.create_task(engine.append("a", [Message(data="pending")], 2))
                done, _ = await asyncio.wait({pending}, timeout=0.3)
                assert not done
                assert await engine.head("a") == first.position
                assert [m.data for m in await engine.history("a", ALL)] == ["first"]
                blocker.execute("ROLLBACK")
            pub = await pending
            assert await engine.head("a") == pub.position
            assert [m.data for m in await engine.history("a", ALL)] == ["first", "pending"]


async def test_a_failed_commit_fails_its_appends_and_later_ones_still_order(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with opened(store, busy_timeout_ms=50) as engine:
            heard: list[Position] = []
            hear_all(engine, lambda pub: heard.append(pub.position))
            ok1 = await engine.append("f", [Message(data="ok1")], 1)
            lost = [Message(data=f"lost{i}") for i in range(3)]
            with closing(sqlite3.connect(store, isolation_level=None)) as blocker:
                blocker.execute("BEGIN IMMEDIATE")
                results = await asyncio.gather(*(engine.append("f", [m], 1) for m in lost), return_exceptions=True)
                blocker.execute("ROLLBACK")
            for result in results:
                assert isinstance(result, AblyError)
                assert (result.code, result.status_code) == (50000, 500)
            assert await engine.head("f") == ok1.position
            ok2 = await engine.append("f", [Message(data="ok2")], 1)
            assert str(ok2.messages[0].serial) > max(str(m.serial) for m in lost)
            assert heard == [ok1.position, ok2.position]
            assert [m.data for m in await engine.history("f", ALL)] == ["ok1", "ok2"]


async def test_close_flushes_queued_appends(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        engine = SqliteEngine(store)
        await engine.open()
        appends = [engine.append("c", [Message(data=str(i))], 1) for i in range(50)]
        *pubs, _ = await asyncio.gather(*appends, engine.close())
        assert all(isinstance(pub, Publication) for pub in pubs)
        with pytest.raises(AblyError) as closed:
            await engine.append("c", [Message(data="late")], 1)
        assert closed.value.code == 50000
        async with opened(store) as reopened:
            assert [m.data for m in await reopened.history("c", ALL)] == [str(i) for i in range(50)]


async def test_a_second_engine_cannot_share_the_store(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with opened(store):
            with pytest.raises(RuntimeError, match="in use"):
                await SqliteEngine(store).open()
        async with opened(store) as later:
            assert await later.history("x", ALL) == []


def allow(_: Message) -> None:
    """Every mutation here is permitted; permission checks are tested at the broker."""


async def test_runs_of_appends_are_compacted_and_reads_are_unchanged(store: Path) -> None:
    from broker.engine.sqlite import FOLD_EVERY

    headers = {"ai": {"transport": {"stream": "true", "run-id": "r1"}}}
    async with opened(store) as engine:
        original = (await engine.append("c", [Message(name="ai-output", data="", extras=headers)], 1)).messages[0]
        assert original.serial is not None
        count = FOLD_EVERY * 2 + 5
        versions = []
        for i in range(count):
            pub = await engine.mutate("c", Message(action=5, serial=original.serial, data=f"t{i} ", extras=headers),
                                      2 + i, allow)
            versions.append(pub.messages[0].version["serial"])  # type: ignore[index]
        expected = "".join(f"t{i} " for i in range(count))
        [latest] = await engine.history("c", HistoryQuery())
        assert latest.data == expected and latest.action == 1 and latest.extras == headers
        assert latest.version["serial"] == versions[-1]  # type: ignore[index]
        replayed = await engine.replay("c", parse_serial(original.serial)[0].seq, (await engine.head("c")).seq)
        assert [m.data for m in replayed] == [expected]
    with closing(sqlite3.connect(store)) as db:
        rows, extras_rows = db.execute("SELECT COUNT(*), SUM(length(body)) FROM parts").fetchone()
    assert rows == 2 + 5  # two compacted runs and the five appends since
    assert extras_rows < len(expected) + rows * 200  # unchanged headers are not stored again
    async with opened(store) as engine:
        assert (await engine.get_message("c", original.serial)).data == expected  # type: ignore[union-attr]
        versions_read = await engine.versions("c", original.serial)
        assert versions_read[0].data == "" and versions_read[-1].data == expected


def writer_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.startswith("sqlite-writer")}


async def test_writes_run_on_one_thread_that_close_ends(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        before = writer_threads()
        async with opened(store) as engine:
            await asyncio.gather(*(engine.append("t", [Message(data=str(i))], 1) for i in range(100)))
            await engine.trim(2)
            mine = writer_threads() - before
            assert len(mine) == 1
        assert not any(thread.is_alive() for thread in mine)


async def test_a_failed_commit_over_a_count_limit_puts_the_floor_back(store: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        engine = SqliteEngine(store, retention=RetentionPolicy((parse_rule("max=2"),)))
        await engine.open()
        try:
            kept = [await engine.append("m", [Message(data=f"k{i}")], 1000 + i) for i in range(2)]
            with closing(sqlite3.connect(store, isolation_level=None)) as db:
                db.execute("CREATE TRIGGER refuse BEFORE INSERT ON floors BEGIN SELECT RAISE(ABORT, 'no'); END")
            with pytest.raises(AblyError) as failed:
                await engine.append("m", [Message(data="lost")], 1002)
            assert failed.value.code == 50000
            assert await engine.floor("m") == Position.origin(engine.epoch)  # raised before the delete, then undone
            assert [m.data for m in await engine.history("m", ALL)] == ["k0", "k1"]
            with closing(sqlite3.connect(store, isolation_level=None)) as db:
                db.execute("DROP TRIGGER refuse")
            last = await engine.append("m", [Message(data="k2")], 1003)
            assert await engine.floor("m") == kept[0].position
            assert [m.serial for m in await engine.history("m", ALL)] == [
                kept[1].messages[0].serial, last.messages[0].serial]
        finally:
            await engine.close()


async def test_a_cancelled_sweep_still_settles_what_it_committed(store: Path) -> None:
    """A transaction on the writer thread cannot be stopped halfway: a cancelled `trim` waits for
    it to end, and the floor in memory then matches what the store deleted."""
    async with asyncio.timeout(TIMEOUT):
        engine = SqliteEngine(store, retention=RetentionPolicy((parse_rule("ttl=1s"),)))
        await engine.open()
        try:
            expired = [await engine.append("e", [Message(data=f"e{i}")], 1000 + i) for i in range(3)]
            with closing(sqlite3.connect(store, isolation_level=None)) as blocker:
                blocker.execute("BEGIN IMMEDIATE")  # the sweep waits for the write lock
                sweep = asyncio.create_task(engine.trim(10_000))
                done, _ = await asyncio.wait({sweep}, timeout=0.3)
                assert not done
                sweep.cancel()
                done, _ = await asyncio.wait({sweep}, timeout=0.3)
                assert not done  # still waiting for its transaction
                blocker.execute("ROLLBACK")
            with pytest.raises(asyncio.CancelledError):
                await sweep
            assert await engine.history("e", ALL) == []
            assert await engine.floor("e") == expired[-1].position
        finally:
            await engine.close()
        async with opened(store) as reopened:
            assert await reopened.floor("e") == expired[-1].position
