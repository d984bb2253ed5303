"""Retention, part of the engine contract: count and age limits, and the floor that tells a resume it lost data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from broker.engine.sqlite import retention as sqlite_retention
from broker.engine.base import Engine, HistoryQuery
from broker.engine.retention import RetentionPolicy, RetentionRule, parse_duration_ms, parse_rule
from broker.engine.sqlite import SqliteEngine
from broker.protocol.errors import AblyError
from broker.protocol.actions import PresenceAction
from broker.protocol.message import Message
from broker.protocol.presence import PresenceMessage
from broker.protocol.serial import Position

from .conftest import EngineKind
from .test_dedup import built

TIMEOUT = 15.0
ALL = HistoryQuery(direction="forwards", limit=1000)


def policy(*specs: str) -> RetentionPolicy:
    return RetentionPolicy(tuple(parse_rule(spec) for spec in specs))


async def publish(engine: Engine, channel: str, times: list[int]) -> list[str]:
    """One one-message publication per time; returns their serials."""
    serials = []
    for i, now in enumerate(times):
        pub = await engine.append(channel, [Message(data=f"{channel}-{i}")], now)
        serials.append(str(pub.messages[0].serial))
    return serials


def test_rules_parse_patterns_durations_and_counts() -> None:
    assert parse_rule("ttl=90") == RetentionRule("*", 90_000, None)
    assert parse_rule("chat:* ttl=2m max=10") == RetentionRule("chat:*", 120_000, 10)
    assert parse_rule("max=5 logs:*") == RetentionRule("logs:*", None, 5)
    assert [parse_duration_ms(d) for d in ("5s", "3h", "1d")] == [5_000, 10_800_000, 86_400_000]
    for bad in ("chat:*", "ttl=0", "max=-1", "ttl=soon", "a b max=1", "max=1 x y", "ttl="):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_the_first_matching_rule_applies() -> None:
    rules = policy("chat:* max=10", "ttl=1h")
    assert rules.max_count("chat:room") == 10
    assert rules.rule_for("chat:room") == RetentionRule("chat:*", None, 10)
    assert rules.max_count("other") is None
    assert rules.ttl_cutoff_seq("other", 3_600_500, 1000) == 500_000
    assert rules.ttl_cutoff_seq("chat:room", 3_600_500, 1000) is None
    assert RetentionPolicy().rule_for("any") is None and not RetentionPolicy()


async def test_without_rules_everything_is_kept(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        serials = await publish(engine, "keep", [1000, 2000, 3000])
        assert await engine.trim(10**12) == 0
        assert [m.serial for m in await engine.history("keep", ALL)] == serials
        assert (await engine.floor("keep")).seq == 0


async def test_a_count_limit_keeps_the_newest_messages(kind: EngineKind, tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT), built(kind, tmp_path, retention=policy("ret:* max=3")) as engine:
        serials = await publish(engine, "ret:count", [1000 + i for i in range(5)])
        await publish(engine, "free", [1000 + i for i in range(5)])
        assert [m.serial for m in await engine.history("ret:count", ALL)] == serials[2:]
        assert len(await engine.history("free", ALL)) == 5
        floor = await engine.floor("ret:count")
        assert str(floor) == serials[1].rpartition(":")[0]
        assert (await engine.floor("free")).seq == 0
        multi = await engine.append("ret:count", [Message(data=str(i)) for i in range(2)], 2000)
        kept = await engine.history("ret:count", ALL)
        assert [m.serial for m in kept] == [serials[4]] + [m.serial for m in multi.messages]
        assert str(await engine.floor("ret:count")) == serials[3].rpartition(":")[0]


async def test_a_ttl_removes_old_messages_when_trimmed(kind: EngineKind, tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT), built(kind, tmp_path, retention=policy("ttl=10s")) as engine:
        serials = await publish(engine, "ttl", [1_000, 5_000, 9_000, 20_000])
        assert await engine.trim(15_000) == 1  # older than 15s - 10s = 5s: only the first
        assert [m.serial for m in await engine.history("ttl", ALL)] == serials[1:]
        assert await engine.trim(15_000) == 0
        assert await engine.trim(25_000) == 2
        assert [m.serial for m in await engine.history("ttl", ALL)] == serials[3:]
        assert str(await engine.floor("ttl")) == serials[2].rpartition(":")[0]
        head = await engine.head("ttl")
        assert str(head) == serials[3].rpartition(":")[0]
        assert await engine.trim(40_000) == 1
        assert await engine.history("ttl", ALL) == []
        assert await engine.floor("ttl") == head and await engine.head("ttl") == head
        later = await publish(engine, "ttl", [41_000])
        assert [m.serial for m in await engine.history("ttl", ALL)] == later


async def test_sqlite_floors_and_counts_survive_a_restart(tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        path = tmp_path / "ret.db"
        first = SqliteEngine(path, retention=policy("max=2"))
        await first.open()
        serials = await publish(first, "c", [1000, 1001, 1002])
        floor = await first.floor("c")
        await first.close()

        second = SqliteEngine(path, retention=policy("max=2"))
        await second.open()
        try:
            assert await second.floor("c") == floor == Position(floor.seq, second.epoch)
            more = await publish(second, "c", [2000])
            assert [m.serial for m in await second.history("c", ALL)] == [serials[2]] + more
        finally:
            await second.close()


async def test_sqlite_a_sweep_deletes_a_bounded_number_of_messages(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A long run of expired messages goes over several sweeps, so commits never wait long."""
    monkeypatch.setattr(sqlite_retention, "TRIM_BUDGET", 2)
    async with asyncio.timeout(TIMEOUT):
        engine = SqliteEngine(tmp_path / "budget.db", retention=policy("ttl=1s"))
        await engine.open()
        try:
            serials = await publish(engine, "a", [1000, 1001, 1002])
            await publish(engine, "b", [1000])
            assert [await engine.trim(10_000) for _ in range(3)] == [2, 2, 0]
            assert await engine.history("a", ALL) == await engine.history("b", ALL) == []
            assert str(await engine.floor("a")) == serials[2].rpartition(":")[0]
        finally:
            await engine.close()


async def test_trimmed_messages_take_their_versions_with_them(kind: EngineKind, tmp_path: Path) -> None:
    def allow(_: Message) -> None:
        """Permission checks are tested at the broker."""

    async with asyncio.timeout(TIMEOUT), built(kind, tmp_path, retention=policy("max=1")) as engine:
        first = (await engine.append("v", [Message(data="first")], 1000)).messages[0]
        assert first.serial is not None
        await engine.mutate("v", Message(action=1, serial=first.serial, data="edited"), 1001, allow)
        await engine.append("v", [Message(data="second")], 1002)
        assert await engine.get_message("v", first.serial) is None
        assert await engine.versions("v", first.serial) == []
        with pytest.raises(AblyError) as refused:
            await engine.mutate("v", Message(action=1, serial=first.serial, data="again"), 1003, allow)
        assert refused.value.code == 40400
        assert [m.data for m in await engine.replay("v", 0, (await engine.head("v")).seq)] == ["second"]


async def presence_events(engine: Engine, channel: str, times: list[int]) -> None:
    """One enter (a new member) per time, so every call logs one event."""
    for i, now in enumerate(times):
        member = PresenceMessage(action=PresenceAction.ENTER, client_id=f"u{i}", connection_id="c1", id=f"c1:{i}:0")
        await engine.presence_update(channel, [member], now)


async def test_presence_history_follows_its_channel_rule_by_count(kind: EngineKind, tmp_path: Path) -> None:
    """A rule for `chat:*` bounds the presence history of `chat:room`, counted apart from its messages."""
    async with asyncio.timeout(TIMEOUT), built(kind, tmp_path, retention=policy("chat:* max=2")) as engine:
        await presence_events(engine, "chat:room", [1000, 1001, 1002, 1003])
        await presence_events(engine, "other", [1000, 1001, 1002])
        await publish(engine, "chat:room", [1004])
        kept = await engine.presence_history("chat:room", ALL)
        assert [m.client_id for m in kept] == ["u2", "u3"]
        assert len(await engine.presence_history("other", ALL)) == 3, "no rule matches: all kept"
        assert len(await engine.history("chat:room", ALL)) == 1, "the messages count on their own"
        assert len(await engine.presence_members("chat:room")) == 4, "trimming history leaves members alone"


async def test_presence_history_follows_its_channel_rule_by_age(kind: EngineKind, tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT), built(kind, tmp_path, retention=policy("chat:* ttl=1s")) as engine:
        await presence_events(engine, "chat:room", [1000, 1001])
        await presence_events(engine, "keep", [1000])
        assert await engine.trim(10_000) == 2
        assert await engine.presence_history("chat:room", ALL) == []
        assert len(await engine.presence_history("keep", ALL)) == 1
