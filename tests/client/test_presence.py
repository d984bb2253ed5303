"""Presence through a real broker: enter/update/leave, the synced member set, history, re-entry."""

from __future__ import annotations

import uuid

import pytest

from client import AblyError, PresenceAction
from tests.client.conftest import RealtimeFactory, first, take
from tests.support.proxy import TcpProxy


def channel_name() -> str:
    return f"presence-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_enter_update_leave_seen_by_another_client(realtime_factory: RealtimeFactory, fmt: str) -> None:
    alice = await realtime_factory(client_id="alice", format=fmt)
    watcher = await realtime_factory(format=fmt)
    name = channel_name()
    events = watcher.channels.get(name).presence.events()
    await events.started()

    presence = alice.channels.get(name).presence
    await presence.enter({"status": "here"})
    await presence.update("busy")
    await presence.leave()

    received = await take(events, 3)
    assert [(e.action, e.client_id, e.data) for e in received] == [
        (PresenceAction.ENTER, "alice", {"status": "here"}),
        (PresenceAction.UPDATE, "alice", "busy"),
        (PresenceAction.LEAVE, "alice", "busy"),
    ]
    assert {e.connection_id for e in received} == {alice.connection.id}
    assert all(e.id and e.id.startswith(f"{alice.connection.id}:") for e in received)


async def test_get_returns_the_synced_member_set(realtime_factory: RealtimeFactory) -> None:
    name = channel_name()
    alice = await realtime_factory(client_id="alice")
    bob = await realtime_factory(client_id="bob")
    await alice.channels.get(name).presence.enter("a")
    await bob.channels.get(name).presence.enter("b")
    late = await realtime_factory()

    members = await late.channels.get(name).presence.get()

    assert sorted((m.client_id, m.data, m.action) for m in members) == [
        ("alice", "a", PresenceAction.PRESENT), ("bob", "b", PresenceAction.PRESENT)]
    assert [m.client_id for m in await late.channels.get(name).presence.get(client_id="bob")] == ["bob"]


async def test_member_leaves_when_its_connection_closes(realtime_factory: RealtimeFactory) -> None:
    name = channel_name()
    alice = await realtime_factory(client_id="alice")
    watcher = await realtime_factory()
    await alice.channels.get(name).presence.enter()
    events = watcher.channels.get(name).presence.events()
    await events.started()
    assert [m.client_id for m in await watcher.channels.get(name).presence.get()] == ["alice"]
    await alice.close()
    leave = await first(events, lambda e: e.action is PresenceAction.LEAVE)
    assert leave.client_id == "alice"
    assert await watcher.channels.get(name).presence.get() == []


async def test_enter_needs_a_client_id(realtime_factory: RealtimeFactory) -> None:
    anonymous = await realtime_factory()
    with pytest.raises(AblyError) as caught:
        await anonymous.channels.get(channel_name()).presence.enter()
    assert caught.value.code == 40012


async def test_enter_client_with_a_wildcard_key(realtime_factory: RealtimeFactory) -> None:
    name = channel_name()
    agent = await realtime_factory()
    await agent.channels.get(name).presence.enter_client("bot-1", "ready")
    members = await agent.channels.get(name).presence.get()
    assert [(m.client_id, m.data) for m in members] == [("bot-1", "ready")]


async def test_presence_history(realtime_factory: RealtimeFactory) -> None:
    name = channel_name()
    alice = await realtime_factory(client_id="alice")
    presence = alice.channels.get(name).presence
    await presence.enter("in")
    await presence.leave("out")
    page = await presence.history(direction="forwards")
    assert [(m.action, m.data) for m in page.items] == [(PresenceAction.ENTER, "in"), (PresenceAction.LEAVE, "out")]


async def test_member_survives_a_resumed_cut(realtime_factory: RealtimeFactory, proxy: TcpProxy) -> None:
    name = channel_name()
    alice = await realtime_factory(client_id="alice", port=proxy.port)
    watcher = await realtime_factory()
    await alice.channels.get(name).presence.enter("steady")
    events = watcher.channels.get(name).presence.events()
    await events.started()
    changes = alice.connection.state_changes()
    proxy.cut()
    await first(changes, lambda c: c.current == "connected")
    await alice.channels.get(name).presence.update("after-cut")
    update = await first(events, lambda e: e.action is not PresenceAction.PRESENT)
    assert (update.action, update.data) == (PresenceAction.UPDATE, "after-cut")


async def test_subscribe_callback_with_action_filter(realtime_factory: RealtimeFactory) -> None:
    name = channel_name()
    alice = await realtime_factory(client_id="alice")
    watcher = await realtime_factory()
    entered: list[str | None] = []
    leaves = watcher.channels.get(name).presence.events(PresenceAction.LEAVE)
    await watcher.channels.get(name).presence.subscribe(lambda m: entered.append(m.client_id),
                                                        PresenceAction.ENTER)
    presence = alice.channels.get(name).presence
    await presence.enter()
    await presence.update("x")
    await presence.leave()
    [leave] = await take(leaves, 1)
    assert leave.client_id == "alice"
    assert entered == ["alice"]  # the enter precedes the leave in the channel's order
