"""Cut, stall and refuse connections through a TCP proxy: resume must lose and repeat nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from client import ChannelEvent, ChannelStateChange, ConnectionState, Realtime
from tests.client.conftest import WAIT, RealtimeFactory, first, take
from tests.support.proxy import TcpProxy

FORMATS = ["json", "msgpack"]


def channel_name() -> str:
    return f"resume-{uuid.uuid4().hex[:10]}"


def continuity_losses(changes: list[ChannelStateChange]) -> list[ChannelStateChange]:
    """Channel events (after the first attach) that would tell an application it missed messages."""
    return [c for c in changes if c.event is ChannelEvent.UPDATE or (c.current == "attached" and not c.resumed)]


async def history_data(client: Realtime, name: str) -> list[object]:
    page = await client.channels.get(name).history(direction="forwards", limit=1000)
    return [m.data for m in page.items]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_subscriber_cut_mid_stream_resumes_without_loss_or_duplicates(
        realtime_factory: RealtimeFactory, proxy: TcpProxy, fmt: str) -> None:
    sub = await realtime_factory(port=proxy.port, format=fmt)
    pub = await realtime_factory(format=fmt)
    name = channel_name()
    channel = sub.channels.get(name)
    stream = channel.messages()
    await stream.started()
    changes: list[ChannelStateChange] = []
    channel.on(changes.append)
    connection_id = sub.connection.id

    async def publish_all() -> list[str | None]:
        serials: list[str | None] = []
        for i in range(300):
            serials.extend((await pub.channels.get(name).publish("n", str(i))).serials)
        return serials

    publishing = asyncio.create_task(publish_all())
    before = await take(stream, 100)
    proxy.cut()
    after = await take(stream, 200, timeout=2 * WAIT)
    serials = await publishing

    assert [m.data for m in before + after] == [str(i) for i in range(300)]
    assert [m.serial for m in before + after] == serials
    assert sub.connection.id == connection_id, "the connection must have resumed, not restarted"
    assert proxy.accepted >= 2
    assert continuity_losses(changes) == []


async def test_messages_published_while_unreachable_are_replayed(realtime_factory: RealtimeFactory,
                                                                 proxy: TcpProxy) -> None:
    sub = await realtime_factory(port=proxy.port)
    pub = await realtime_factory()
    name = channel_name()
    channel = sub.channels.get(name)
    stream = channel.messages()
    await stream.started()
    changes: list[ChannelStateChange] = []
    channel.on(changes.append)
    connection_changes = sub.connection.state_changes()
    proxy.drop()
    await first(connection_changes, lambda c: c.current is ConnectionState.DISCONNECTED)
    for i in range(20):
        await pub.channels.get(name).publish("n", str(i))
    proxy.restore()

    received = await take(stream, 20)
    await pub.channels.get(name).publish("n", "live")
    received += await take(stream, 1)

    assert [m.data for m in received] == [str(i) for i in range(20)] + ["live"]
    assert continuity_losses(changes) == []


async def test_acks_lost_in_a_cut_are_recovered_without_republishing(realtime_factory: RealtimeFactory,
                                                                     proxy: TcpProxy) -> None:
    pub = await realtime_factory(port=proxy.port)
    observer = await realtime_factory()
    name = channel_name()
    seen = observer.channels.get(name).messages()
    await seen.started()
    channel = pub.channels.get(name)
    connection_id = pub.connection.id

    proxy.stall("down")  # the broker gets the publishes; their ACKs are held back
    publishes = [asyncio.create_task(channel.publish("n", str(i))) for i in range(50)]
    delivered = await take(seen, 50)
    assert not any(p.done() for p in publishes)
    proxy.cut()
    proxy.unstall()
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(*publishes)

    assert [r.serials[0] for r in results] == [m.serial for m in delivered]
    assert await history_data(observer, name) == [str(i) for i in range(50)]
    assert pub.connection.id == connection_id


async def test_publishes_held_by_a_dead_link_are_resent_once(realtime_factory: RealtimeFactory,
                                                             proxy: TcpProxy) -> None:
    pub = await realtime_factory(port=proxy.port)
    observer = await realtime_factory()
    name = channel_name()
    seen = observer.channels.get(name).messages()
    await seen.started()
    channel = pub.channels.get(name)

    proxy.stall("up")  # the publishes never reach the broker before the cut
    publishes = [asyncio.create_task(channel.publish("n", str(i))) for i in range(30)]
    await asyncio.sleep(0)
    proxy.cut()
    proxy.unstall()
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(*publishes)

    delivered = await take(seen, 30)
    assert [m.data for m in delivered] == [str(i) for i in range(30)]
    assert [r.serials[0] for r in results] == [m.serial for m in delivered]
    assert await history_data(observer, name) == [str(i) for i in range(30)]


async def test_failed_resume_renumbers_pending_and_reattaches_from_the_cursor(
        realtime_factory: RealtimeFactory, proxy: TcpProxy) -> None:
    pub = await realtime_factory(port=proxy.port)
    sub = await realtime_factory(port=proxy.port)
    name = channel_name()
    stream = sub.channels.get(name).messages()
    await stream.started()
    channel = pub.channels.get(name)
    for i in range(5):
        await channel.publish("n", str(i))
    assert pub.connection.msg_serial == 5
    old_pub_id, old_sub_id = pub.connection.id, sub.connection.id
    pub_changes, sub_changes = pub.connection.state_changes(), sub.connection.state_changes()

    proxy.stall("up")
    publishes = [asyncio.create_task(channel.publish("n", str(i))) for i in range(5, 15)]
    await asyncio.sleep(0)
    pub.connection.key = sub.connection.key = "unknown!connection-key"  # the broker cannot resume these
    proxy.cut()
    proxy.unstall()

    reconnected = await first(pub_changes, lambda c: c.current is ConnectionState.CONNECTED)
    assert reconnected.reason is not None, "a failed resume is reported on CONNECTED"
    await first(sub_changes, lambda c: c.current is ConnectionState.CONNECTED)
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*publishes)

    assert pub.connection.id != old_pub_id and sub.connection.id != old_sub_id
    # The ten publishes made together went out as one ProtocolMessage (msgSerial 5 on the old
    # connection); renumbered on the new connection it is msgSerial 0, so the next one is 1.
    assert pub.connection.msg_serial == 1
    received = await take(stream, 15)
    assert [m.data for m in received] == [str(i) for i in range(15)]
    assert await history_data(pub, name) == [str(i) for i in range(15)]


async def test_publishes_queued_while_disconnected_are_sent_on_reconnect(realtime_factory: RealtimeFactory,
                                                                         proxy: TcpProxy) -> None:
    pub = await realtime_factory(port=proxy.port)
    name = channel_name()
    changes = pub.connection.state_changes()
    proxy.drop()
    await first(changes, lambda c: c.current is ConnectionState.DISCONNECTED)
    publishes = [asyncio.create_task(pub.channels.get(name).publish("n", str(i))) for i in range(5)]
    await asyncio.sleep(0)
    assert not any(p.done() for p in publishes)
    proxy.restore()
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(*publishes)
    serials = [r.serials[0] for r in results]
    assert serials == sorted(serials)  # type: ignore[type-var]
    assert await history_data(pub, name) == [str(i) for i in range(5)]
