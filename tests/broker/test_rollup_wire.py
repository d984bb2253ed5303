"""Append rollup on the wire: frames' channelSerial never passes an append the broker still holds."""

from __future__ import annotations

from broker.protocol.actions import Action
from tests.broker.test_mutations import APPEND, client, create, mutate
from tests.support.broker import BrokerProcess

STREAMING = {"ai": {"transport": {"stream": "true", "status": "streaming"}}}


def position(serial: str) -> str:
    return serial.rpartition(":")[0]


async def test_a_presence_frame_during_a_hold_does_not_move_the_cursor_past_it(broker: BrokerProcess) -> None:
    """ably-js takes channelSerial from PRESENCE frames too: one sent while an append is held must
    stay before it, or a resume from it would skip the held append."""
    sub = await client(broker)
    await sub.attach("hold", params={"appendRollupWindow": "500"})
    agent = await client(broker)
    serial = await create(agent, "hold")
    await mutate(agent, "hold", APPEND, serial, data="a", extras=STREAMING)  # goes at once
    held = await mutate(agent, "hold", APPEND, serial, data="b", extras=STREAMING)  # held for the window
    held_at = position(held["res"][0]["serials"][0])
    first = await sub.expect(Action.MESSAGE, lambda m: m["messages"][0].get("data") == "a")
    assert first["channelSerial"] < held_at

    member = await client(broker, key=broker.key, clientId="member")
    await member.attach("hold")
    await member.send({"action": Action.PRESENCE, "channel": "hold", "msgSerial": 0,
                       "presence": [{"action": 2, "data": "here"}]})
    presence = await sub.expect(Action.PRESENCE)
    rolled = await sub.expect(Action.MESSAGE, lambda m: m["messages"][0].get("action") == APPEND)
    assert rolled["messages"][0]["data"] == "b"
    assert presence["channelSerial"] < held_at <= rolled["channelSerial"], (presence, rolled)
    for c in (sub, agent, member):
        await c.close()
