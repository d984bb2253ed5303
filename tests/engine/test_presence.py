"""The presence part of the engine contract: every engine kind in conftest.KINDS must pass it."""

from __future__ import annotations

import asyncio

from broker.engine.base import Engine, HistoryQuery
from broker.engine.presence import PresenceEvent, presence_log
from broker.protocol.actions import PresenceAction
from broker.protocol.presence import PresenceMessage
from broker.protocol.serial import parse_serial

from .conftest import EngineKind

TIMEOUT = 15.0
ENTER, UPDATE, LEAVE = PresenceAction.ENTER, PresenceAction.UPDATE, PresenceAction.LEAVE


def pm(action: int, client: str, conn: str, data: str | None = None, serial: int = 0, index: int = 0) -> PresenceMessage:
    return PresenceMessage(action=action, client_id=client, connection_id=conn, data=data,
                           id=f"{conn}:{serial}:{index}")


def members_of(items: list[PresenceMessage]) -> list[tuple[str | None, str | None, str | bytes | None]]:
    return [(m.client_id, m.connection_id, m.data) for m in items]


async def test_enter_update_leave_keep_the_member_set(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        await engine.presence_update("room", [pm(ENTER, "alice", "c1", "a0"), pm(ENTER, "bob", "c2", "b0")], 1000)
        await engine.presence_update("room", [pm(UPDATE, "alice", "c1", "a1", 1)], 1001)
        assert members_of(await engine.presence_members("room")) == [("alice", "c1", "a1"), ("bob", "c2", "b0")]
        event = await engine.presence_update("room", [pm(LEAVE, "bob", "c2", None, 1)], 1002)
        assert members_of(await engine.presence_members("room")) == [("alice", "c1", "a1")]
        assert [(m.action, m.data) for m in event.messages] == [(LEAVE, "b0")], "a bare leave carries the last data"
        assert await engine.presence_members("other-room") == []


async def test_enter_when_present_is_an_update_and_update_when_absent_an_enter(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        first = await engine.presence_update("ea", [pm(UPDATE, "alice", "c1", "x")], 1000)
        again = await engine.presence_update("ea", [pm(ENTER, "alice", "c1", "y", 1)], 1001)
        assert [m.action for m in first.messages] == [ENTER]
        assert [m.action for m in again.messages] == [UPDATE]
        assert members_of(await engine.presence_members("ea")) == [("alice", "c1", "y")]


async def test_re_entering_with_the_current_id_changes_nothing(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        await engine.presence_update("re", [pm(ENTER, "alice", "c1", "x", 4)], 1000)
        again = await engine.presence_update("re", [pm(ENTER, "alice", "c1", "x", 4)], 1001)
        assert again.messages == []
        assert len(await engine.presence_history("re", HistoryQuery())) == 1
        newer = await engine.presence_update("re", [pm(ENTER, "alice", "c1", "y", 5)], 1002)
        assert [(m.action, m.data) for m in newer.messages] == [(UPDATE, "y")]


async def test_leaving_when_absent_changes_nothing_and_is_not_logged(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        event = await engine.presence_update("noop", [pm(LEAVE, "ghost", "c9")], 1000)
        assert event.messages == [] and event.position is None
        assert await engine.presence_history("noop", HistoryQuery()) == []


async def test_members_are_keyed_by_client_and_connection(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        await engine.presence_update("k", [pm(ENTER, "alice", "phone", "p"), pm(ENTER, "alice", "laptop", "l", 0, 1),
                                           pm(ENTER, "bob", "laptop", "b", 0, 2)], 1000)
        assert len(await engine.presence_members("k")) == 3
        assert members_of(await engine.presence_members("k", client_id="alice")) == [
            ("alice", "phone", "p"), ("alice", "laptop", "l")]
        assert members_of(await engine.presence_members("k", connection_id="laptop")) == [
            ("alice", "laptop", "l"), ("bob", "laptop", "b")]
        assert members_of(await engine.presence_members("k", client_id="bob", connection_id="laptop")) == [
            ("bob", "laptop", "b")]
        await engine.presence_update("k", [pm(LEAVE, "alice", "phone", None, 1)], 1001)
        assert members_of(await engine.presence_members("k", client_id="alice")) == [("alice", "laptop", "l")]


async def test_events_are_stamped_logged_durably_and_heard_in_order(engine: Engine, kind: EngineKind) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard: list[PresenceEvent] = []
        durable: list[bool] = []

        def listener(event: PresenceEvent) -> None:
            heard.append(event)
            stored = set(kind.stored_serials(engine, presence_log(event.channel)))
            durable.append(all(m.serial in stored for m in event.messages))

        engine.set_presence_listener(listener)
        events = [await engine.presence_update("log", [pm(ENTER, f"u{i}", "c1", str(i), i)], 5000 + i)
                  for i in range(3)]
        events += await asyncio.gather(*(engine.presence_update("log", [pm(UPDATE, f"u{i}", "c1", f"v{i}", 10 + i)],
                                                                5010) for i in range(3)))
        assert [e.messages for e in heard] == [e.messages for e in events]
        assert durable == [True] * len(events)
        serials = [m.serial or "" for e in events for m in e.messages]
        assert all(serials) and serials == sorted(serials) and len(set(serials)) == len(serials)
        for e in events:
            assert e.position is not None
            for m in e.messages:
                assert parse_serial(m.serial or "")[0] == e.position
                assert m.timestamp == e.position.ms
        assert [m.timestamp for m in events[0].messages] == [5000]


async def test_presence_history_pages_like_message_history(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        for i in range(5):
            await engine.presence_update("h", [pm(ENTER, f"u{i}", "c1", str(i), i)], 1000 + i)
        await engine.presence_update("h", [pm(LEAVE, "u0", "c1", None, 9)], 1010)
        forwards = await engine.presence_history("h", HistoryQuery(direction="forwards"))
        assert [(m.action, m.client_id) for m in forwards] == [
            (ENTER, "u0"), (ENTER, "u1"), (ENTER, "u2"), (ENTER, "u3"), (ENTER, "u4"), (LEAVE, "u0")]
        assert [m.id for m in forwards][:2] == ["c1:0:0", "c1:1:0"]
        backwards = await engine.presence_history("h", HistoryQuery(limit=2))
        assert [m.client_id for m in backwards] == ["u0", "u4"]
        last = parse_serial(backwards[-1].serial or "")
        rest = await engine.presence_history("h", HistoryQuery(limit=10, cursor=(last[0].seq, last[1])))
        assert [m.client_id for m in rest] == ["u3", "u2", "u1", "u0"]
        bounded = await engine.presence_history("h", HistoryQuery(direction="forwards", start=1001, end=1003))
        assert [m.client_id for m in bounded] == ["u1", "u2", "u3"]


async def test_presence_does_not_touch_the_message_stream(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        before = await engine.head("mixed")
        await engine.presence_update("mixed", [pm(ENTER, "alice", "c1", "x")], 2000)
        assert await engine.head("mixed") == before
        assert await engine.history("mixed", HistoryQuery()) == []
