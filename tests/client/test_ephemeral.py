"""Ephemeral messages with the Python client: live only, so a resume replays none of them."""

from __future__ import annotations

import uuid

from client import ChannelStateChange, ConnectionState
from tests.client.conftest import RealtimeFactory, first, take
from tests.client.test_resume import continuity_losses
from tests.support.proxy import TcpProxy

EPHEMERAL = {"ephemeral": True}


async def test_a_resume_replays_stored_messages_but_no_ephemeral_ones(realtime_factory: RealtimeFactory,
                                                                       proxy: TcpProxy) -> None:
    sub = await realtime_factory(port=proxy.port)
    pub = await realtime_factory()
    name = f"eph-{uuid.uuid4().hex[:10]}"
    channel = sub.channels.get(name)
    stream = channel.messages()
    await stream.started()
    changes: list[ChannelStateChange] = []
    channel.on(changes.append)
    publisher = pub.channels.get(name)

    live = await publisher.publish("typing", "eph-live", extras=EPHEMERAL)
    assert live.serials == [None]
    assert [m.data for m in await take(stream, 1)] == ["eph-live"]

    connection_changes = sub.connection.state_changes()
    proxy.drop()
    await first(connection_changes, lambda c: c.current is ConnectionState.DISCONNECTED)
    for i in range(3):
        await publisher.publish("typing", f"eph-missed-{i}", extras=EPHEMERAL)
        await publisher.publish("n", f"kept-{i}")
    proxy.restore()

    received = await take(stream, 3)
    await publisher.publish("n", "after")
    received += await take(stream, 1)
    assert [m.data for m in received] == ["kept-0", "kept-1", "kept-2", "after"], \
        "the resume replays what was stored and nothing ephemeral"
    assert continuity_losses(changes) == [], "skipping ephemeral messages is no loss of continuity"
    history = await publisher.history(direction="forwards")
    assert [m.data for m in history.items] == ["kept-0", "kept-1", "kept-2", "after"]
