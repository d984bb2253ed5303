"""The connection state machine against a real broker: lifecycle, ping, failures, backoff, liveness."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import pytest

from client import AblyError, ConnectionEvent, ConnectionState, Realtime
from tests.client.conftest import FAST, WAIT, RealtimeFactory, first, take
from tests.support.broker import BrokerProcess
from tests.support.proxy import TcpProxy


async def test_lifecycle_states_in_order(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory(connect=False)
    assert client.connection.state.value == "initialized"
    changes = client.connection.state_changes()
    async with client:
        assert client.connection.state == "connected"
        assert client.connection.id and client.connection.key
    assert client.connection.state == "closed"
    async with asyncio.timeout(WAIT):
        seen = [(c.previous, c.current) async for c in changes]  # the stream ends at CLOSED
    assert seen == [("initialized", "connecting"), ("connecting", "connected"), ("connected", "closing"),
                    ("closing", "closed")]
    assert client.connection.id is None and client.connection.key is None


async def test_connection_details_and_identity(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory(client_id="alice")
    details = client.connection.details
    assert details is not None
    assert details.client_id == "alice" and client.client_id == "alice"
    assert details.max_message_size and details.max_idle_interval and details.connection_state_ttl
    channel = client.channels.get(f"identity-{uuid.uuid4().hex[:8]}")
    stream = channel.messages()
    await stream.started()
    await channel.publish("hi", "there")
    [message] = await take(stream, 1)
    assert message.client_id == "alice"


async def test_ping_round_trip(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    rtt = await client.connection.ping()
    assert 0 < rtt < FAST.request


async def test_operations_after_close_raise(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    channel = client.channels.get("after-close")
    await client.close()
    with pytest.raises(AblyError) as caught:
        await channel.publish("x", "y")
    assert caught.value.code == 80017
    with pytest.raises(AblyError):
        await client.connection.ping()


async def test_wrong_secret_fails_the_connection(realtime_factory: RealtimeFactory, broker: BrokerProcess) -> None:
    key_name = broker.key.split(":")[0]
    client = await realtime_factory(key=f"{key_name}:wrong-secret", connect=False)
    with pytest.raises(AblyError) as caught:
        await client.connect()
    assert caught.value.status_code == 401 and 40100 <= caught.value.code < 40200
    assert client.connection.state is ConnectionState.FAILED
    assert client.connection.error_reason is caught.value


async def test_unreachable_server_retries_with_backoff(realtime_factory: RealtimeFactory, proxy: TcpProxy) -> None:
    proxy.drop()
    client = await realtime_factory(port=proxy.port, connect=False)
    changes = client.connection.state_changes()
    client.connection.connect()
    retries: list[float] = []
    async with asyncio.timeout(WAIT):
        async for change in changes:
            if change.current is ConnectionState.DISCONNECTED:
                assert change.reason is not None and change.reason.code == 80003
                assert change.retry_in is not None
                retries.append(change.retry_in)
                if len(retries) == 4:
                    break
    base = FAST.disconnected_retry
    for attempt, delay in enumerate(retries, start=1):
        factor = min((attempt + 2) / 3, 2.0)
        assert base * factor * 0.8 - 1e-9 <= delay <= base * factor + 1e-9, (attempt, delay)
    proxy.restore()
    await first(changes, lambda c: c.current is ConnectionState.CONNECTED)
    assert proxy.refused >= 4


async def test_suspended_after_connection_state_ttl_then_recovers(realtime_factory: RealtimeFactory,
                                                                  proxy: TcpProxy) -> None:
    timeouts = dataclasses.replace(FAST, connection_state_ttl=0.5)
    client = await realtime_factory(port=proxy.port, timeouts=timeouts)
    channel = client.channels.get(f"suspend-{uuid.uuid4().hex[:8]}")
    await channel.attach()
    changes = client.connection.state_changes()
    channel_changes = channel.state_changes()
    proxy.drop()
    await first(changes, lambda c: c.current is ConnectionState.SUSPENDED)
    assert channel.state == "suspended"
    with pytest.raises(AblyError) as caught:
        await channel.publish("x", "while suspended")
    assert caught.value.code == 80002
    proxy.restore()
    await first(changes, lambda c: c.current is ConnectionState.CONNECTED)
    await first(channel_changes, lambda c: c.current == "attached")


async def test_silent_server_is_detected_and_the_connection_resumed(broker_factory: type[BrokerProcess],
                                                                     tmp_path: Path) -> None:
    broker = broker_factory(db=tmp_path / "idle.db", extra_args=["--max-idle-interval", "0.5"]).start()
    proxy = TcpProxy(target_port=broker.port).start()
    try:
        # The broker's heartbeat sweep runs once a second: silences reach ~1 s despite the 0.5 s setting.
        timeouts = dataclasses.replace(FAST, idle_margin=1.0)
        async with Realtime(key=broker.key, host=broker.host, port=proxy.port, tls=False,
                            timeouts=timeouts) as client:
            connection_id = client.connection.id
            changes = client.connection.state_changes()
            # Heartbeats keep an idle connection alive well past maxIdleInterval + margin.
            await asyncio.sleep(2 * (0.5 + 1.0))
            assert changes.pending() == 0 and client.connection.state is ConnectionState.CONNECTED
            proxy.stall()
            lost = await first(changes, lambda c: c.current is ConnectionState.DISCONNECTED)
            assert lost.reason is not None and lost.reason.code == 80003
            proxy.unstall()
            await first(changes, lambda c: c.current is ConnectionState.CONNECTED)
            assert client.connection.id == connection_id
            assert await client.connection.ping() > 0
    finally:
        proxy.stop()


async def test_state_listeners_by_event(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory(connect=False)
    connected: list[ConnectionState] = []
    everything: list[ConnectionEvent] = []
    client.connection.on(lambda c: connected.append(c.current), ConnectionState.CONNECTED)
    client.connection.on(lambda c: everything.append(c.event))
    await client.connect()
    await client.close()
    assert connected == ["connected"]
    assert everything == ["connecting", "connected", "closing", "closed"]
