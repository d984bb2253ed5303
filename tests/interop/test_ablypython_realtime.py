"""ably-python 3.1.4 realtime publish/subscribe against the broker.

ably-python builds its WebSocket URL as `ws://{host}?...` without the port option (reference
§1.1), but it uses the endpoint string verbatim as that host, so `endpoint="127.0.0.1:PORT"`
reaches a custom port. The same client's REST calls would then be broken (`http://HOST:PORT:PORT`),
and with tls=False ably-python refuses Basic-auth REST anyway (40103), so only realtime is
exercised here; REST is covered through a TLS proxy in test_ablypython_rest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ably import AblyRealtime
from ably.types.message import Message

from tests.support.broker import BrokerProcess
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.interop

CHANNEL = "interop:py-realtime"
WAIT = 10.0
BATCH = 5


async def _connected(broker: BrokerProcess, fmt: str, port: int | None = None, **options: Any) -> AblyRealtime:
    client = AblyRealtime(key=broker.key, endpoint=f"{broker.host}:{port or broker.port}", tls=False,
                          use_binary_protocol=fmt == "msgpack", **options)
    await asyncio.wait_for(client.connection.once_async("connected"), WAIT)
    return client


def _data(m: Message) -> Any:
    return bytes(m.data) if isinstance(m.data, (bytes, bytearray)) else m.data


@pytest.fixture
async def clients() -> AsyncIterator[list[AblyRealtime]]:
    made: list[AblyRealtime] = []
    yield made
    for client in made:
        await asyncio.wait_for(client.close(), WAIT)


@pytest.mark.parametrize(("pub_fmt", "sub_fmt"), [("json", "json"), ("msgpack", "msgpack"), ("json", "msgpack")])
async def test_realtime_publish_subscribe(broker: BrokerProcess, clients: list[AblyRealtime],
                                          pub_fmt: str, sub_fmt: str) -> None:
    pub = await _connected(broker, pub_fmt)
    clients.append(pub)
    sub = await _connected(broker, sub_fmt)
    clients.append(sub)
    assert sub.connection.connection_details is not None
    assert sub.connection.connection_details.connection_key

    received: asyncio.Queue[Message] = asyncio.Queue()
    await asyncio.wait_for(sub.channels.get(CHANNEL).subscribe(received.put_nowait), WAIT)
    sent = [("text", "hello ✓"), ("object", {"k": [1, 2, None]}), ("bytes", b"\x00\x01\xfe\xff"),
            ("last", "done")]
    channel = pub.channels.get(CHANNEL)
    results = [await asyncio.wait_for(channel.publish(name, data), WAIT) for name, data in sent]

    got = [await asyncio.wait_for(received.get(), WAIT) for _ in sent]
    assert [(m.name, _data(m)) for m in got] == sent
    serials = [r.serials[0] for r in results]
    assert [m.serial for m in got] == serials == sorted(serials)
    assert all(m.connection_id == pub.connection.connection_manager.connection_id for m in got)


async def test_realtime_ping(broker: BrokerProcess, clients: list[AblyRealtime]) -> None:
    client = await _connected(broker, "msgpack")
    clients.append(client)
    rtt = await asyncio.wait_for(client.connection.ping(), WAIT)
    assert rtt >= 0


async def test_rewind_by_channel_name_qualifier(broker: BrokerProcess, clients: list[AblyRealtime]) -> None:
    """ably-python has no channel params for rewind; the `[?rewind=N]` name form is how it rewinds."""
    pub = await _connected(broker, "msgpack")
    clients.append(pub)
    for i in range(6):
        await asyncio.wait_for(pub.channels.get(CHANNEL).publish("old", f"old-{i}"), WAIT)
    sub = await _connected(broker, "json")
    clients.append(sub)
    received: asyncio.Queue[Message] = asyncio.Queue()
    await asyncio.wait_for(sub.channels.get(f"[?rewind=2]{CHANNEL}").subscribe(received.put_nowait), WAIT)
    await asyncio.wait_for(pub.channels.get(CHANNEL).publish("live", "live-0"), WAIT)
    got = [_data(await asyncio.wait_for(received.get(), WAIT)) for _ in range(3)]
    assert got == ["old-4", "old-5", "live-0"]
    assert received.empty()


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_reconnect_after_socket_loss(broker: BrokerProcess, clients: list[AblyRealtime],
                                           proxy_factory: Callable[..., TcpProxy], fmt: str) -> None:
    """ably-python resumes after its socket dies and re-attaches with its channelSerial.

    A reconnect attempt that the network refuses does not fail fast in ably-python: it stays
    CONNECTING until realtime_request_timeout expires, so that timeout is shortened here.
    """
    proxy = proxy_factory(broker.port)
    pub = await _connected(broker, fmt)
    clients.append(pub)
    sub = await _connected(broker, fmt, port=proxy.port, disconnected_retry_timeout=250,
                           realtime_request_timeout=2000)
    clients.append(sub)
    received: asyncio.Queue[Message] = asyncio.Queue()
    await asyncio.wait_for(sub.channels.get(CHANNEL).subscribe(received.put_nowait), WAIT)
    channel = pub.channels.get(CHANNEL)

    async def publish(start: int) -> None:
        for i in range(start, start + BATCH):
            await asyncio.wait_for(channel.publish("seq", f"m-{i}"), WAIT)

    got: list[Any] = []
    await publish(0)
    got += [_data(await asyncio.wait_for(received.get(), WAIT)) for _ in range(BATCH)]
    connection_id = sub.connection.connection_manager.connection_id
    down = asyncio.ensure_future(sub.connection.once_async("disconnected"))
    proxy.drop()
    await asyncio.wait_for(down, WAIT)
    await publish(BATCH)
    up = asyncio.ensure_future(sub.connection.once_async("connected"))
    proxy.restore()
    await asyncio.wait_for(up, WAIT)
    await publish(2 * BATCH)
    got += [_data(await asyncio.wait_for(received.get(), WAIT)) for _ in range(2 * BATCH)]

    assert got == [f"m-{i}" for i in range(3 * BATCH)]
    assert received.empty()
    assert proxy.accepted >= 2
    assert sub.connection.connection_manager.connection_id == connection_id, "the resume should keep the connection"
