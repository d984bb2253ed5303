"""The edge under stress, at the protocol level: a client that stops reading, and SIGTERM under load."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from broker.protocol.actions import Action, Flag
from tests.support.broker import BrokerProcess
from tests.support.metrics import scrape, value
from tests.support.proxy import TcpProxy
from tests.support.wire import WireClient

from .rest import history
from .test_resume_protocol import collect, open_client

OUTBOUND_LIMIT = 256 * 1024
FLOOD = 400
FLOOD_SIZE = 24 * 1024  # ~10 MB in all: past the limit plus the kernel's send buffer (Linux autotunes it up to 4 MB)
STOP_TIMEOUT = 15.0
MAX_ROUNDS = 50


async def publish_one_by_one(pub: WireClient, channel: str, count: int, size: int) -> None:
    """Each publish waits for its ACK, so each goes out to subscribers as a frame of its own."""
    for i in range(count):
        serial = await pub.publish(channel, [{"name": "n", "data": f"m-{i:05d}-" + "x" * size}])
        await pub.ack(serial)


async def read_until_disconnected(client: WireClient, want: int = 1 << 30,
                                  ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """MESSAGE payloads (with their frame's channelSerial) until `want` have come, or up to a
    DISCONNECTED and the socket's end."""
    messages: list[dict[str, Any]] = []
    disconnected = None
    try:
        while len(messages) < want:
            frame = await client.recv()
            if frame["action"] == Action.MESSAGE:
                messages += [{**m, "cursor": frame["channelSerial"]} for m in frame["messages"]]
            elif frame["action"] == Action.DISCONNECTED:
                disconnected = frame
    except ConnectionClosed:
        pass
    return messages, disconnected


async def test_a_client_that_stops_reading_is_disconnected_and_resumes_without_loss(
        broker_factory: Callable[..., BrokerProcess], proxy_factory: Callable[..., TcpProxy]) -> None:
    """Cut off once while it stalls; the catch-up replay after its resume follows the socket,
    so a backlog far over the limit (~10 MB against 256 KiB) arrives in that one round."""
    broker = broker_factory(extra_args=["--outbound-buffer", str(OUTBOUND_LIMIT)]).start()
    proxy = proxy_factory(broker.port, upstream_rcvbuf=16 * 1024)
    slow = await WireClient.open(f"ws://127.0.0.1:{proxy.port}", "msgpack", key=broker.key)
    connected = await slow.connected()
    key = connected["connectionDetails"]["connectionKey"]
    cursor = (await slow.attach("flood"))["channelSerial"]
    fast, _ = await open_client(broker, "msgpack")
    await fast.attach("flood")
    pub, _ = await open_client(broker, "msgpack")

    proxy.stall("down")
    _, fast_got = await asyncio.gather(publish_one_by_one(pub, "flood", FLOOD, FLOOD_SIZE),
                                       collect(fast, "flood", FLOOD))
    proxy.unstall()
    received: list[dict[str, Any]] = []
    endings: list[int | None] = []
    client = slow
    while True:
        got, disconnected = await read_until_disconnected(client, FLOOD - len(received))
        received += got
        endings.append(disconnected["error"]["code"] if disconnected else None)
        if len(received) == FLOOD or disconnected is None or not got or len(endings) > MAX_ROUNDS:
            break
        cursor = got[-1]["cursor"]
        client, resumed = await open_client(broker, "msgpack", resume=key)
        assert resumed["connectionId"] == connected["connectionId"] and "error" not in resumed
        assert (await client.attach("flood", channelSerial=cursor))["flags"] & Flag.RESUMED

    assert [m["data"][:7] for m in fast_got] == [f"m-{i:05d}" for i in range(FLOOD)]
    assert [m["data"][:7] for m in received] == [f"m-{i:05d}" for i in range(FLOOD)]
    assert endings == [80003, None], "cut off with DISCONNECTED once over the limit, never during the replay"
    log = broker.log()
    assert log.count(f"connection {connected['connectionId']}: outbound buffer over") == 1
    assert log.count("outbound buffer over") == 1, "only the slow client was cut off"
    samples = scrape(broker)
    assert value(samples, "tether_slow_consumer_disconnects_total") == 1
    assert value(samples, "tether_resumes_total", result="resumed") == len(endings) - 1
    for c in (fast, pub, client):
        await c.close()


async def broker_logged(broker: BrokerProcess, text: str, timeout: float) -> str:
    """The broker's log once it contains `text` (polled: the log is the only outside sign)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in (log := broker.log()):
        assert loop.time() < deadline, f"the broker never logged {text!r}"
        await asyncio.sleep(0.05)
    return log


async def test_a_client_that_stops_reading_during_its_catch_up_is_cut_off_after_the_grace(
        broker_factory: Callable[..., BrokerProcess], proxy_factory: Callable[..., TcpProxy]) -> None:
    """The paced replay waits for the client, but not forever: no draining within the grace
    period cuts it off like any slow consumer, and the channel's others carry on."""
    broker = broker_factory(extra_args=["--outbound-buffer", str(OUTBOUND_LIMIT)]).start()
    proxy = proxy_factory(broker.port, upstream_rcvbuf=16 * 1024)
    fast, _ = await open_client(broker, "msgpack")
    cursor = (await fast.attach("flood"))["channelSerial"]
    pub, _ = await open_client(broker, "msgpack")
    _, fast_got = await asyncio.gather(publish_one_by_one(pub, "flood", FLOOD, FLOOD_SIZE),
                                       collect(fast, "flood", FLOOD))
    assert len(fast_got) == FLOOD
    slow = await WireClient.open(f"ws://127.0.0.1:{proxy.port}", "msgpack", key=broker.key)
    slow_id = (await slow.connected())["connectionId"]
    proxy.stall("down")
    await slow.send({"action": Action.ATTACH, "channel": "flood", "channelSerial": cursor})  # ~10 MB to replay
    log = await broker_logged(broker, f"connection {slow_id}: did not drain", timeout=STOP_TIMEOUT)
    assert log.count("disconnecting") == 1, "only the stalled client was cut off"
    await pub.ack(await pub.publish("flood", [{"name": "n", "data": "after"}]))
    assert [m["data"] for m in await collect(fast, "flood", 1)] == ["after"]
    proxy.unstall()
    got, disconnected = await read_until_disconnected(slow)
    assert disconnected is not None and disconnected["error"]["code"] == 80003
    assert 0 < len(got) < FLOOD, "it got part of the replay, then the cut-off"
    assert [m["data"][:7] for m in got] == [f"m-{i:05d}" for i in range(len(got))]
    for c in (fast, pub, slow):
        await c.close()


WINDOW = 100  # publishes in flight at once
SIGTERM_AFTER = 500  # ACKs


async def publish_windowed(pub: WireClient, channel: str, window: asyncio.Semaphore, sent: list[int]) -> None:
    """Publish t-0, t-1, ... keeping at most `window` unanswered, until cancelled or closed."""
    try:
        while True:
            await window.acquire()
            await pub.publish(channel, [{"name": "n", "data": f"t-{len(sent)}"}])
            sent.append(len(sent))
    except ConnectionClosed:
        pass


async def test_sigterm_answers_what_it_read_says_disconnected_and_restarts_without_loss(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory().start()
    assert broker.proc is not None
    sub, _ = await open_client(broker)
    await sub.attach("term")
    pub, _ = await open_client(broker)
    window = asyncio.Semaphore(WINDOW)
    sent: list[int] = []
    publishing = asyncio.create_task(publish_windowed(pub, "term", window, sent))
    acked: list[int] = []
    goodbye = None
    try:
        while True:
            frame = await pub.recv(STOP_TIMEOUT)
            assert frame["action"] != Action.NACK, frame
            if frame["action"] == Action.ACK:
                acked += range(frame["msgSerial"], frame["msgSerial"] + frame["count"])
                for _ in range(frame["count"]):
                    window.release()
                if len(acked) >= SIGTERM_AFTER and broker.proc.returncode is None and goodbye is None:
                    broker.proc.send_signal(signal.SIGTERM)  # mid-stream: publishes are in flight
            elif frame["action"] == Action.DISCONNECTED:
                goodbye = frame
    except ConnectionClosed:
        pass
    publishing.cancel()
    await asyncio.gather(publishing, return_exceptions=True)
    _, sub_goodbye = await read_until_disconnected(sub)
    code = await asyncio.to_thread(broker.proc.wait, STOP_TIMEOUT)

    assert code == 0
    assert goodbye is not None and goodbye["error"]["code"] == 80003
    assert sub_goodbye is not None and sub_goodbye["error"]["code"] == 80003
    assert acked == list(range(len(acked))), "ACKs in msgSerial order, every one before DISCONNECTED"
    # Up to WINDOW publishes are in flight when SIGTERM lands, but whether the broker read them
    # all before it stopped reading is a race (faster commits make "all" likely); either way
    # history must hold exactly the acknowledged ones.
    assert SIGTERM_AFTER <= len(acked) <= len(sent)
    restarted = broker_factory(db=broker.db, port=broker.port).start()
    stored = [m["data"] for m in history(restarted, "term")]
    assert stored == [f"t-{i}" for i in acked], "exactly what was acknowledged: nothing unread was stored"
