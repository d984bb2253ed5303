"""The engine contract: every engine kind in conftest.KINDS must pass all of it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from broker.engine.base import Engine, HistoryQuery, Publication
from broker.protocol.errors import AblyError
from broker.protocol.message import Message
from broker.protocol.serial import COUNTER_LIMIT, MAX_INDEX, Position, parse_serial
from broker.protocol.wire import Format

from .conftest import CLOSE_TIMEOUT, EngineKind, hear_all

TIMEOUT = 15.0


async def publish_series(
    engine: Engine, channel: str, clock: list[int], sizes: list[int] | None = None
) -> list[Publication]:
    """One publication per clock reading; publication i holds sizes[i] messages (default 1)."""
    pubs = []
    for i, now in enumerate(clock):
        size = sizes[i % len(sizes)] if sizes else 1
        batch = [Message(name="n", data=f"{channel}-{i}-{j}") for j in range(size)]
        pubs.append(await engine.append(channel, batch, now))
    return pubs


def flat(pubs: list[Publication]) -> list[Message]:
    return [message for pub in pubs for message in pub.messages]


def serials(messages: list[Message]) -> list[str]:
    return [str(message.serial) for message in messages]


def cursor_after(message: Message) -> tuple[int, int]:
    position, index = parse_serial(str(message.serial))
    return position.seq, index


async def test_append_assigns_increasing_positions_and_stamps_messages(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        clock = [5000, 5000, 5000, 5001, 4990, 5010, 5010]  # 4990: the clock stepped backwards
        pubs = await publish_series(engine, "order", clock, sizes=[1, 2, 3])
        seqs = [pub.position.seq for pub in pubs]
        assert seqs == [5000000, 5000001, 5000002, 5001000, 5001001, 5010000, 5010001]
        all_serials = serials(flat(pubs))
        assert all_serials == sorted(all_serials)
        assert len(set(all_serials)) == len(all_serials) == 1 + 2 + 3 + 1 + 2 + 3 + 1
        for pub in pubs:
            for index, message in enumerate(pub.messages):
                assert message.serial == f"{pub.position}:{index:03d}"
                assert parse_serial(message.serial) == (pub.position, index)
                assert message.timestamp == pub.position.ms
            assert pub.channel == "order"
        assert [m.data for m in pubs[2].messages] == ["order-2-0", "order-2-1", "order-2-2"]


async def test_serials_carry_the_store_epoch(engine: Engine, kind: EngineKind, tmp_path: Path) -> None:
    async with asyncio.timeout(TIMEOUT):
        origin = await engine.head("never-used")
        assert origin == Position.origin(origin.epoch)
        assert re.fullmatch(r"[A-Za-z0-9]{6,12}", origin.epoch)
        pub = await engine.append("epoch", [Message(data="x")], 1000)
        assert pub.position.epoch == origin.epoch
        assert parse_serial(str(pub.messages[0].serial))[0].epoch == origin.epoch
        assert str(origin) < str(pub.messages[0].serial)

        other_dir = tmp_path / "other-store"
        other_dir.mkdir()
        other = kind.build(other_dir)
        await asyncio.wait_for(other.open(), CLOSE_TIMEOUT)
        try:
            assert (await other.head("epoch")).epoch != origin.epoch
        finally:
            await asyncio.wait_for(other.close(), CLOSE_TIMEOUT)


async def test_head_is_the_last_position_or_the_origin(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        before = await engine.head("h")
        assert before.seq == 0
        first = await engine.append("h", [Message(data="a")], 2000)
        assert await engine.head("h") == first.position
        second = await engine.append("h", [Message(data="b"), Message(data="c")], 2000)
        assert await engine.head("h") == second.position
        assert second.position > first.position
        assert await engine.head("h-other") == Position.origin(before.epoch)


async def test_listener_hears_each_publication_once_in_order_after_it_is_stored(
    engine: Engine, kind: EngineKind
) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard: list[tuple[str, Position]] = []
        stored_when_heard: list[bool] = []

        def listener(pub: Publication) -> None:
            heard.append((pub.channel, pub.position))
            stored = set(kind.stored_serials(engine, pub.channel))
            stored_when_heard.append(all(m.serial in stored for m in pub.messages))

        hear_all(engine, listener)
        published = []
        for i in range(6):
            channel = "l1" if i % 2 else "l2"
            published.append(await engine.append(channel, [Message(data=str(i)), Message(data=str(i))], 3000))
        published += await asyncio.gather(*(engine.append("l1", [Message(data=f"c{i}")], 3001) for i in range(20)))

        assert heard == [(pub.channel, pub.position) for pub in published]
        assert stored_when_heard == [True] * len(published)


async def test_history_directions_and_limit(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        items = serials(flat(await publish_series(engine, "dir", [1000 + i // 2 for i in range(10)], sizes=[2])))
        assert len(items) == 20
        assert serials(await engine.history("dir", HistoryQuery(direction="forwards"))) == items
        assert serials(await engine.history("dir", HistoryQuery(direction="backwards"))) == items[::-1]
        assert serials(await engine.history("dir", HistoryQuery())) == items[::-1]
        assert serials(await engine.history("dir", HistoryQuery(limit=3))) == items[::-1][:3]
        assert serials(await engine.history("dir", HistoryQuery(direction="forwards", limit=3))) == items[:3]
        assert await engine.history("dir", HistoryQuery(limit=0)) == []
        assert await engine.history("empty-channel", HistoryQuery()) == []


async def test_history_start_and_end_are_inclusive_ms_bounds(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        pubs = await publish_series(engine, "time", [1000, 1000, 1001, 1002, 1002, 1005], sizes=[1, 2])
        items = flat(pubs)

        def within(start: int | None, end: int | None) -> list[str]:
            return serials(
                [
                    m
                    for m in items
                    if (start is None or int(m.timestamp or 0) >= start)
                    and (end is None or int(m.timestamp or 0) <= end)
                ]
            )

        for start, end in [(1001, 1002), (1002, None), (None, 1000), (1003, 1004), (1000, 1005), (1005, 1005)]:
            forwards = await engine.history("time", HistoryQuery(direction="forwards", start=start, end=end))
            backwards = await engine.history("time", HistoryQuery(direction="backwards", start=start, end=end))
            assert serials(forwards) == within(start, end), (start, end)
            assert serials(backwards) == within(start, end)[::-1], (start, end)
        assert within(1001, 1002) != []


async def test_history_after_and_until_bound_by_position(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        pubs = await publish_series(engine, "pos", [2000 + i for i in range(8)], sizes=[2])
        seqs = [pub.position.seq for pub in pubs]

        def of(selected: list[Publication]) -> list[str]:
            return serials(flat(selected))

        assert serials(await engine.history("pos", HistoryQuery(direction="forwards", after=seqs[2]))) == of(pubs[3:])
        assert serials(await engine.history("pos", HistoryQuery(direction="forwards", until=seqs[4]))) == of(pubs[:5])
        both = HistoryQuery(direction="backwards", after=seqs[2], until=seqs[4])
        assert serials(await engine.history("pos", both)) == of(pubs[3:5])[::-1]
        newest_before = HistoryQuery(direction="backwards", until=seqs[4], limit=3)
        assert serials(await engine.history("pos", newest_before)) == of(pubs[:5])[::-1][:3]
        assert await engine.history("pos", HistoryQuery(after=seqs[-1])) == []
        assert await engine.history("pos", HistoryQuery(until=seqs[0] - 1)) == []


async def test_cursor_pagination_has_no_gap_and_no_duplicate(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        pubs = await publish_series(engine, "page", [3000 + i // 4 for i in range(25)], sizes=[1, 3, 2])
        items = flat(pubs)
        low, high = items[5].timestamp, items[-6].timestamp
        assert low is not None and high is not None
        windowed = [m for m in items if low <= int(m.timestamp or 0) <= high]
        cases: list[tuple[dict[str, int], list[Message]]] = [({}, items), ({"start": low, "end": high}, windowed)]
        for bounds, expected_forwards in cases:
            for direction in ("forwards", "backwards"):
                expected = serials(expected_forwards if direction == "forwards" else expected_forwards[::-1])
                for limit in (1, 7, len(items)):
                    collected: list[Message] = []
                    cursor: tuple[int, int] | None = None
                    for _ in range(len(items) + 2):
                        query = HistoryQuery(direction=direction, limit=limit, cursor=cursor, **bounds)
                        page = await engine.history("page", query)
                        collected += page
                        if len(page) < limit:
                            break
                        cursor = cursor_after(page[-1])
                    assert serials(collected) == expected, (bounds, direction, limit)


async def test_channels_keep_independent_orders(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        channels = ["x", "y", "z"]
        for i in range(30):
            channel = channels[i % 3]
            await engine.append(channel, [Message(data=f"{channel}{i}")], 4000)
        for n, channel in enumerate(channels):
            history = await engine.history(channel, HistoryQuery(direction="forwards"))
            assert [m.data for m in history] == [f"{channel}{i}" for i in range(n, 30, 3)]
            assert [parse_serial(str(m.serial))[0].seq for m in history] == [
                4000 * COUNTER_LIMIT + k for k in range(10)
            ]
            assert await engine.head(channel) == parse_serial(str(history[-1].serial))[0]


async def test_concurrent_appends_keep_one_order(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        calls: list[str] = []
        heard: list[str] = []
        hear_all(engine, lambda pub: heard.append(str(pub.messages[0].data)))

        async def publisher(worker: int) -> None:
            for i in range(10):
                data = f"{worker}:{i}"
                calls.append(data)
                await engine.append("conc", [Message(data=data)], 5000 + i)

        await asyncio.gather(*(publisher(w) for w in range(40)))
        history = await engine.history("conc", HistoryQuery(direction="forwards", limit=1000))
        assert len(set(calls)) == 400
        assert [m.data for m in history] == calls
        assert heard == calls
        history_serials = serials(history)
        assert history_serials == sorted(set(history_serials))


async def test_messages_round_trip_through_storage(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        originals = [
            Message(
                name="bin",
                data=b"\x00\x01\xfe\xff",
                encoding="cipher+aes-128-cbc",
                client_id="client-1",
                connection_id="conn-1",
                id="conn-1:0:0",
                extras={"headers": {"k": "v"}, "ref": {"type": "com.ably.reply", "timelineSerial": "t"}},
            ),
            Message(name="text", data="héllo ✓ \U0001f600"),
            Message(name="json", data='{"a":[1,2]}', encoding="json", extras={"n": 1, "f": 1.5, "b": True, "z": None}),
            Message(),
            Message(name="empty-bytes", data=b""),
            Message(name="empty-text", data=""),
            Message(name="lone-surrogate", data="\ud83d lone"),
            Message(
                name="update", data="v2", action=1, version={"serial": "s", "clientId": "op", "metadata": {"a": "b"}}
            ),
        ]
        pub = await engine.append("trip", originals[:4], 6000)
        pub2 = await engine.append("trip", originals[4:], 6001)
        sent = pub.messages + pub2.messages
        stored = await engine.history("trip", HistoryQuery(direction="forwards"))
        assert len(stored) == len(sent) == len(originals)
        for before, after in zip(sent, stored, strict=True):
            assert type(after.data) is type(before.data)
            assert after.data == before.data
            assert (after.name, after.encoding, after.extras, after.action, after.version) == (
                before.name,
                before.encoding,
                before.extras,
                before.action,
                before.version,
            )
            assert (after.client_id, after.connection_id, after.id) == (
                before.client_id,
                before.connection_id,
                before.id,
            )
            assert (after.serial, after.timestamp) == (before.serial, before.timestamp)
            assert after.to_wire(Format.JSON) == before.to_wire(Format.JSON)


async def test_a_publication_too_long_for_three_digit_indexes_is_refused(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard: list[Publication] = []
        hear_all(engine, heard.append)
        largest = await engine.append("big", [Message(data=str(i)) for i in range(MAX_INDEX + 1)], 7000)
        assert largest.messages[-1].serial == f"{largest.position}:{MAX_INDEX:03d}"
        with pytest.raises(AblyError) as refused:
            await engine.append("big", [Message(data=str(i)) for i in range(MAX_INDEX + 2)], 7000)
        assert (refused.value.code, refused.value.status_code) == (40000, 400)
        assert await engine.head("big") == largest.position
        assert heard == [largest]
        assert len(await engine.history("big", HistoryQuery(limit=5000))) == MAX_INDEX + 1
