"""Core repairs what the bus loses: subscribers see every message in order exactly once.

The broker runs in this test's event loop with its real bus wrapped by a fault injector
(tests/support/faulty_bus) that drops and reorders publications of one channel; subscribers
are real WebSocket clients. Losing a publication's notification must not lose the message:
the channel notices the position jump on the next publication and reads the gap from the log.
The last publication is sent with faults off: with nothing after it, a lost tail has no jump
to notice (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broker.auth import KeyStore
from broker.config import Config
from broker.protocol.actions import Action
from broker.server.app import Broker
from tests.support.broker import TEST_KEY
from tests.support.faulty_bus import FaultyBus
from tests.support.wire import WireClient

CHANNEL = "lossy"
APPEND, UPDATE = 5, 1
AI = {"ai": {"transport": {"stream": "true"}}}


@pytest.fixture(params=["memory", "sqlite"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Broker]:
    config = Config(port=0, engine=request.param, db=tmp_path / "broker.db", keys=[TEST_KEY])
    broker = Broker(config, KeyStore.from_specs(config.keys))
    await broker.start()
    yield broker
    await broker.stop()


def faulty(broker: Broker, **faults: int) -> FaultyBus:
    bus = FaultyBus(broker.engine.bus, CHANNEL, **faults)
    broker.engine.bus = bus
    return bus


async def client(broker: Broker, fmt: str = "json") -> WireClient:
    c = await WireClient.open(f"ws://127.0.0.1:{broker.port}", fmt, key=TEST_KEY)
    await c.connected()
    return c


async def publish(c: WireClient, message: dict[str, Any]) -> str:
    ack = await c.ack(await c.publish(CHANNEL, [message]))
    assert ack["action"] == Action.ACK, ack
    return str(ack["res"][0]["serials"][0])


async def received_until(c: WireClient, last: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Messages and frame channelSerials up to the message with data `last`."""
    messages: list[dict[str, Any]] = []
    serials: list[str] = []
    while not messages or messages[-1].get("data") != last:
        frame = await c.expect(Action.MESSAGE)
        serials.append(frame["channelSerial"])
        messages += frame["messages"]
    return messages, serials


async def test_dropped_and_reordered_publications_reach_subscribers_in_order_once(broker: Broker) -> None:
    bus = faulty(broker, drop_every=4, swap_every=7)
    subscribers = [await client(broker, "json"), await client(broker, "msgpack")]
    for sub in subscribers:
        await sub.attach(CHANNEL)
    publisher = await client(broker)
    sent = [await publish(publisher, {"name": "n", "data": f"m{i}"}) for i in range(40)]
    bus.faults = False
    sent.append(await publish(publisher, {"name": "n", "data": "end"}))
    assert bus.dropped and bus.swapped, "the injector must have lost and reordered publications"

    for sub in subscribers:
        messages, frame_serials = await received_until(sub, "end")
        assert [m["serial"] for m in messages] == sent
        assert [m["data"] for m in messages] == [f"m{i}" for i in range(40)] + ["end"]
        assert frame_serials == sorted(set(frame_serials)), "channelSerials must rise with no repeat"
        await sub.close()
    await publisher.close()


async def test_lost_appends_are_repaired_so_the_streamed_text_matches_history(broker: Broker) -> None:
    bus = faulty(broker, drop_every=3, swap_every=5)
    subscriber = await client(broker)
    await subscriber.attach(CHANNEL)
    agent = await client(broker)
    serial = await publish(agent, {"name": "ai-output", "data": "", "extras": AI})
    tokens = [f"t{i} " for i in range(30)]
    for token in tokens:
        await publish(agent, {"action": APPEND, "serial": serial, "data": token, "extras": AI})
    bus.faults = False
    await publish(agent, {"name": "n", "data": "end"})
    assert bus.dropped and bus.swapped

    messages, frame_serials = await received_until(subscriber, "end")
    text = ""
    for message in messages[:-1]:
        assert message["serial"] == serial
        text = text + message["data"] if message["action"] == APPEND else message["data"]
    assert text == "".join(tokens), "no fragment lost or repeated"
    assert any(m["action"] == UPDATE for m in messages), "a lost append comes back as the whole message"
    assert frame_serials == sorted(set(frame_serials))
    await subscriber.close()
    await agent.close()


async def test_an_attach_past_what_the_bus_brought_reads_the_rest_from_the_log(broker: Broker) -> None:
    """A lost last publication has no later one to reveal it; the next attach's head does."""
    bus = faulty(broker)
    first = await client(broker)
    await first.attach(CHANNEL)
    publisher = await client(broker)
    await publish(publisher, {"name": "n", "data": "m0"})
    bus.drop_every = 1
    lost = await publish(publisher, {"name": "n", "data": "m1"})
    bus.faults = False
    assert [pub.messages[0].serial for pub in bus.dropped] == [lost]

    second = await client(broker, "msgpack")
    await second.attach(CHANNEL, params={"rewind": "1"})
    got = {}
    for name, sub in (("first", first), ("second", second)):  # nothing is published after m1 yet
        messages, _ = await received_until(sub, "m1")
        got[name] = [(m["data"], m["serial"]) for m in messages]
    assert got["first"][-1] == ("m1", lost) and [d for d, _ in got["first"]] == ["m0", "m1"]
    assert got["second"] == [("m1", lost)], "the rewind's backlog, not repeated by the repair"
    await publish(publisher, {"name": "n", "data": "end"})
    assert [m["data"] for m in (await received_until(second, "end"))[0]] == ["end"]
    assert [m["data"] for m in (await received_until(first, "end"))[0]] == ["end"]
    for c in (first, second, publisher):
        await c.close()
