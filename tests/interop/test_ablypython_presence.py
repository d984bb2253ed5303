"""ably-python 3.1.4 presence: realtime enter/update/leave and SYNC, REST presence get and history.

Realtime reaches the broker directly (`endpoint="HOST:PORT"`, see test_ablypython_realtime.py);
REST goes through the TLS proxy of `ably_rest_factory`, because ably-python refuses Basic auth
over plain HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ably import AblyRealtime, AblyRest
from ably.types.presence import PresenceAction, PresenceMessage

from tests.support.broker import BrokerProcess

pytestmark = pytest.mark.interop

WAIT = 10.0


@pytest.fixture
async def realtimes() -> AsyncIterator[list[AblyRealtime]]:
    made: list[AblyRealtime] = []
    yield made
    for client in made:
        await asyncio.wait_for(client.close(), WAIT)


async def connected(broker: BrokerProcess, made: list[AblyRealtime], fmt: str, **options: Any) -> AblyRealtime:
    client = AblyRealtime(key=broker.key, endpoint=f"{broker.host}:{broker.port}", tls=False,
                          use_binary_protocol=fmt == "msgpack", **options)
    made.append(client)
    await asyncio.wait_for(client.connection.once_async("connected"), WAIT)
    return client


async def all_items(first: Any) -> list[PresenceMessage]:
    items, page = list(first.items), first
    while page.has_next():
        page = await asyncio.wait_for(page.next(), WAIT)
        items += page.items
    return items


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_realtime_and_rest_presence(broker: BrokerProcess, realtimes: list[AblyRealtime],
                                          ably_rest_factory: Callable[[BrokerProcess, str], AblyRest],
                                          fmt: str) -> None:
    channel = f"interop:py-presence-{fmt}"
    watcher = await connected(broker, realtimes, fmt, client_id="watcher")
    events: asyncio.Queue[PresenceMessage] = asyncio.Queue()
    await asyncio.wait_for(watcher.channels.get(channel).presence.subscribe(events.put_nowait), WAIT)

    alice = await connected(broker, realtimes, fmt, client_id="alice")
    bob = await connected(broker, realtimes, fmt, client_id="bob")
    await asyncio.wait_for(alice.channels.get(channel).presence.enter({"role": "user"}), WAIT)
    await asyncio.wait_for(bob.channels.get(channel).presence.enter("bob-data"), WAIT)
    await asyncio.wait_for(alice.channels.get(channel).presence.update("typing"), WAIT)
    await asyncio.wait_for(bob.channels.get(channel).presence.leave(), WAIT)
    seen = [await asyncio.wait_for(events.get(), WAIT) for _ in range(4)]
    assert [(m.action, m.client_id) for m in seen] == [
        (PresenceAction.ENTER, "alice"), (PresenceAction.ENTER, "bob"),
        (PresenceAction.UPDATE, "alice"), (PresenceAction.LEAVE, "bob")]
    assert seen[0].data == {"role": "user"} and seen[2].data == "typing"

    late = await connected(broker, realtimes, fmt, client_id="late")
    members = await asyncio.wait_for(late.channels.get(channel).presence.get(), WAIT)
    assert [(m.client_id, m.data) for m in members] == [("alice", "typing")]

    rest = ably_rest_factory(broker, fmt)
    current = await all_items(await asyncio.wait_for(rest.channels.get(channel).presence.get(limit=1), WAIT))
    assert [(m.action, m.client_id, m.data) for m in current] == [(PresenceAction.PRESENT, "alice", "typing")]
    assert current[0].connection_id == alice.connection.connection_manager.connection_id
    history = await all_items(await asyncio.wait_for(
        rest.channels.get(channel).presence.history(limit=2, direction="forwards"), WAIT))
    assert [(m.action, m.client_id, m.data) for m in history] == [
        (PresenceAction.ENTER, "alice", {"role": "user"}), (PresenceAction.ENTER, "bob", "bob-data"),
        (PresenceAction.UPDATE, "alice", "typing"), (PresenceAction.LEAVE, "bob", "bob-data")]
