"""Realtime protocol against a real broker process over real sockets."""

from __future__ import annotations

import pytest

from broker.protocol.actions import MODE_MASK, Action, Flag
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

FORMATS = ["json", "msgpack"]


async def client(broker: BrokerProcess, fmt: str = "json", **params: str) -> WireClient:
    c = await WireClient.open(broker.ws_url, fmt, key=broker.key, **params)
    return c


@pytest.mark.parametrize("fmt", FORMATS)
async def test_connected_carries_full_connection_details(broker: BrokerProcess, fmt: str) -> None:
    c = await client(broker, fmt)
    msg = await c.connected()
    details = msg["connectionDetails"]
    assert msg["connectionId"] and ":" not in msg["connectionId"]
    assert details["connectionKey"].startswith(msg["connectionId"])
    for field in ("maxMessageSize", "maxFrameSize", "connectionStateTtl", "maxIdleInterval", "serverId"):
        assert field in details
    assert details["maxMessageSize"] == 65536
    await c.close()


async def test_ping_is_answered_with_its_id(broker: BrokerProcess) -> None:
    c = await client(broker)
    await c.connected()
    await c.send({"action": Action.HEARTBEAT, "id": "ping-7"})
    reply = await c.expect(Action.HEARTBEAT, lambda m: m.get("id") == "ping-7")
    assert reply["id"] == "ping-7"
    await c.close()


async def test_close_is_answered_with_closed(broker: BrokerProcess) -> None:
    c = await client(broker)
    await c.connected()
    await c.send({"action": Action.CLOSE})
    await c.expect(Action.CLOSED)
    await c.close()


@pytest.mark.parametrize("pub_fmt,sub_fmt", [("json", "json"), ("msgpack", "msgpack"), ("json", "msgpack"), ("msgpack", "json")])
async def test_publish_subscribe_in_order_across_formats(broker: BrokerProcess, pub_fmt: str, sub_fmt: str) -> None:
    sub = await client(broker, sub_fmt)
    await sub.connected()
    attached = await sub.attach("room")
    assert attached["flags"] & Flag.SUBSCRIBE and attached["channelSerial"]
    pub = await client(broker, pub_fmt)
    conn = await pub.connected()
    serials = []
    for i in range(20):
        s = await pub.publish("room", [{"name": "n", "data": f"m{i}", "extras": {"headers": {"i": i}}}])
        ack = await pub.ack(s)
        assert ack["action"] == Action.ACK and ack["msgSerial"] == s and ack["count"] == 1
        serials.append(ack["res"][0]["serials"][0])
    assert serials == sorted(serials) and len(set(serials)) == 20
    received = []
    while len(received) < 20:
        msg = await sub.expect(Action.MESSAGE)
        assert msg["channel"] == "room" and msg["channelSerial"]
        received.extend(msg["messages"])
    assert [m["data"] for m in received] == [f"m{i}" for i in range(20)]
    assert [m["serial"] for m in received] == serials
    first = received[0]
    assert first["id"] == f"{conn['connectionId']}:0:0"
    assert first["connectionId"] == conn["connectionId"]
    assert first["extras"] == {"headers": {"i": 0}} and isinstance(first["timestamp"], int)
    await pub.close()
    await sub.close()


async def test_binary_data_round_trips_between_formats(broker: BrokerProcess) -> None:
    json_sub = await client(broker, "json")
    await json_sub.connected()
    await json_sub.attach("bin")
    mp_sub = await client(broker, "msgpack")
    await mp_sub.connected()
    await mp_sub.attach("bin")
    pub = await client(broker, "msgpack")
    await pub.connected()
    payload = bytes(range(256))
    await pub.ack(await pub.publish("bin", [{"data": payload}]))
    got_mp = (await mp_sub.expect(Action.MESSAGE))["messages"][0]
    assert got_mp["data"] == payload and "encoding" not in got_mp
    got_json = (await json_sub.expect(Action.MESSAGE))["messages"][0]
    assert got_json["encoding"] == "base64"
    import base64
    assert base64.b64decode(got_json["data"]) == payload
    # A JSON publisher's base64 data reaches msgpack subscribers as binary.
    jpub = await client(broker, "json")
    await jpub.connected()
    await jpub.ack(await jpub.publish("bin", [{"data": base64.b64encode(b"\x00\xff").decode(), "encoding": "json/base64"}]))
    got = (await mp_sub.expect(Action.MESSAGE))["messages"][0]
    assert got["data"] == b"\x00\xff" and got["encoding"] == "json"
    for c in (json_sub, mp_sub, pub, jpub):
        await c.close()


async def test_echo_false_suppresses_own_messages_only(broker: BrokerProcess) -> None:
    a = await client(broker, echo="false")
    await a.connected()
    await a.attach("echo")
    b = await client(broker)
    await b.connected()
    await b.attach("echo")
    await a.ack(await a.publish("echo", [{"data": "from-a"}]))
    await b.ack(await b.publish("echo", [{"data": "from-b"}]))
    got_a = await a.expect(Action.MESSAGE)
    assert [m["data"] for m in got_a["messages"]] == ["from-b"]
    got_b = [m["data"] for m in (await b.expect(Action.MESSAGE))["messages"]]
    if len(got_b) == 1:
        got_b += [m["data"] for m in (await b.expect(Action.MESSAGE))["messages"]]
    assert got_b == ["from-a", "from-b"]
    await a.close()
    await b.close()


async def test_rewind_count_then_live(broker: BrokerProcess) -> None:
    pub = await client(broker)
    await pub.connected()
    for i in range(10):
        await pub.ack(await pub.publish("rw", [{"data": str(i)}]))
    sub = await client(broker)
    await sub.connected()
    attached = await sub.attach("rw", params={"rewind": "3"})
    assert attached["flags"] & Flag.HAS_BACKLOG
    assert attached["params"] == {"rewind": "3"}
    backlog = await sub.expect(Action.MESSAGE)
    assert [m["data"] for m in backlog["messages"]] == ["7", "8", "9"]
    assert attached["channelSerial"] < backlog["messages"][0]["serial"]
    await pub.ack(await pub.publish("rw", [{"data": "live"}]))
    live = await sub.expect(Action.MESSAGE)
    assert [m["data"] for m in live["messages"]] == ["live"]
    await pub.close()
    await sub.close()


async def test_rewind_in_channel_name_qualifier(broker: BrokerProcess) -> None:
    pub = await client(broker)
    await pub.connected()
    for i in range(3):
        await pub.ack(await pub.publish("q", [{"data": str(i)}]))
    sub = await client(broker)
    await sub.connected()
    attached = await sub.attach("[?rewind=2]q")
    assert attached["channel"] == "[?rewind=2]q"
    backlog = await sub.expect(Action.MESSAGE)
    assert backlog["channel"] == "[?rewind=2]q"
    assert [m["data"] for m in backlog["messages"]] == ["1", "2"]
    await pub.close()
    await sub.close()


async def test_time_rewind(broker: BrokerProcess) -> None:
    pub = await client(broker)
    await pub.connected()
    await pub.ack(await pub.publish("trw", [{"data": "recent"}]))
    sub = await client(broker)
    await sub.connected()
    await sub.attach("trw", params={"rewind": "1m"})
    backlog = await sub.expect(Action.MESSAGE)
    assert [m["data"] for m in backlog["messages"]] == ["recent"]
    await pub.close()
    await sub.close()


async def test_attach_with_channel_serial_replays_missed_then_live(broker: BrokerProcess) -> None:
    sub = await client(broker)
    await sub.connected()
    await sub.attach("cs")
    pub = await client(broker)
    await pub.connected()
    await pub.ack(await pub.publish("cs", [{"data": "a"}]))
    first = await sub.expect(Action.MESSAGE)
    cursor = first["channelSerial"]
    await sub.close()
    for d in ("b", "c"):
        await pub.ack(await pub.publish("cs", [{"data": d}]))
    again = await client(broker)
    await again.connected()
    attached = await again.attach("cs", channelSerial=cursor)
    assert attached["flags"] & Flag.RESUMED
    assert attached["channelSerial"] == cursor
    replay = await again.expect(Action.MESSAGE)
    assert [m["data"] for m in replay["messages"]] == ["b", "c"]
    await pub.ack(await pub.publish("cs", [{"data": "d"}]))
    live = await again.expect(Action.MESSAGE)
    assert [m["data"] for m in live["messages"]] == ["d"]
    await pub.close()
    await again.close()


async def test_cursor_from_another_epoch_is_a_discontinuity(broker: BrokerProcess) -> None:
    sub = await client(broker)
    await sub.connected()
    attached = await sub.attach("ep", channelSerial="00000000000001-000@otherepoch")
    assert not attached["flags"] & Flag.RESUMED
    assert attached["error"]["code"] == 90003
    await sub.close()


async def test_detach_stops_delivery(broker: BrokerProcess) -> None:
    sub = await client(broker)
    await sub.connected()
    await sub.attach("dt")
    await sub.send({"action": Action.DETACH, "channel": "dt"})
    await sub.expect(Action.DETACHED)
    pub = await client(broker)
    await pub.connected()
    await pub.ack(await pub.publish("dt", [{"data": "x"}]))
    await sub.send({"action": Action.HEARTBEAT, "id": "after"})
    await sub.expect(Action.HEARTBEAT, lambda m: m.get("id") == "after")
    assert not [m for m in sub.skipped if m["action"] == Action.MESSAGE]
    await pub.close()
    await sub.close()


async def test_pipelined_publishes_are_acked_in_order(broker: BrokerProcess) -> None:
    pub = await client(broker, "msgpack")
    await pub.connected()
    for i in range(200):
        await pub.publish("pipe", [{"data": str(i)}])
    acked: list[str] = []
    expected_serial = 0
    while expected_serial < 200:
        ack = await pub.expect(Action.ACK)
        assert ack["msgSerial"] == expected_serial
        assert len(ack["res"]) == ack["count"]
        acked += [r["serials"][0] for r in ack["res"]]
        expected_serial += ack["count"]
    assert acked == sorted(acked) and len(set(acked)) == 200
    await pub.close()


async def test_a_modes_channel_param_sets_the_modes_and_attached_echoes_the_params(broker: BrokerProcess) -> None:
    """ably-js sends `params: {modes: 'subscribe', delta: 'vcdiff'}`: the param wins over the ATTACH
    flags, the granted modes come back as flags, and ATTACHED echoes the params (channel.params)."""
    c = await client(broker)
    await c.connected()
    await c.send({"action": Action.ATTACH, "channel": "modes:a", "flags": int(Flag.PUBLISH | Flag.PRESENCE_SUBSCRIBE),
                  "params": {"modes": "subscribe,presence", "delta": "vcdiff"}})
    attached = await c.expect(Action.ATTACHED, lambda m: m.get("channel") == "modes:a")
    assert attached["params"] == {"modes": "subscribe,presence", "delta": "vcdiff"}
    assert attached["flags"] & MODE_MASK == int(Flag.SUBSCRIBE | Flag.PRESENCE)
    serial = await c.publish("modes:a", [{"data": "no"}])
    nack = await c.ack(serial)
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40160
    await c.send({"action": Action.ATTACH, "channel": "modes:b", "params": {"modes": "subscribe,telepathy"}})
    refused = await c.expect(Action.ERROR, lambda m: m.get("channel") == "modes:b")
    assert refused["error"]["code"] == 40000 and "telepathy" in refused["error"]["message"]
    await c.close()


async def test_a_bracket_after_the_start_of_a_name_is_part_of_the_name(broker: BrokerProcess) -> None:
    """ably-js's own suite names channels JSON.stringify(options), as Ably accepts: only a leading
    `[` is a qualifier (and a second one right after a qualifier is still refused)."""
    c = await client(broker)
    await c.connected()
    name = 'publish{"modes":["publish","subscribe"]}'
    await c.attach(name)
    serial = await c.publish(name, [{"data": "ok"}])
    assert (await c.ack(serial))["action"] == Action.ACK
    got = await c.expect(Action.MESSAGE, lambda m: m.get("channel") == name)
    assert got["messages"][0]["data"] == "ok"
    await c.send({"action": Action.ATTACH, "channel": "[?rewind=1][meta]x"})
    refused = await c.expect(Action.ERROR, lambda m: m.get("channel") == "[?rewind=1][meta]x")
    assert refused["error"]["code"] == 40010
    await c.close()
