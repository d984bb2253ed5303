"""Publish and subscribe through a real broker, in both wire formats and across them."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest

from client import AblyError, ChannelMode, ChannelState, Data, Message, MessageAction
from tests.client.conftest import WAIT, RealtimeFactory, take

FORMATS = ["json", "msgpack"]
PAYLOADS: list[tuple[str, Data]] = [
    ("text", "héllo wörld"),
    ("empty", ""),
    ("binary", b"\x00\x01\xfe\xff binary"),
    ("object", {"answer": 42, "nested": {"list": [1, "two", None]}}),
    ("array", [1, 2.5, "three", {"four": 4}]),
]


def channel_name() -> str:
    return f"pubsub-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(("pub_format", "sub_format"), list(itertools.product(FORMATS, FORMATS)))
async def test_every_data_type_arrives_as_published(realtime_factory: RealtimeFactory, pub_format: str,
                                                    sub_format: str) -> None:
    pub = await realtime_factory(format=pub_format)
    sub = await realtime_factory(format=sub_format)
    name = channel_name()
    stream = sub.channels.get(name).messages()
    await stream.started()
    results = []
    for label, data in PAYLOADS:
        results.append(await pub.channels.get(name).publish(label, data, extras={"headers": {"kind": label}}))

    received = await take(stream, len(PAYLOADS))

    assert [(m.name, m.data) for m in received] == PAYLOADS
    for (label, data), message, result in zip(PAYLOADS, received, results, strict=True):
        assert type(message.data) is type(data)
        assert message.extras == {"headers": {"kind": label}}
        assert message.encoding is None
        assert message.serial == result.serials[0]
        assert message.connection_id == pub.connection.id
        assert message.action is MessageAction.CREATE
        assert message.id and message.id.startswith(f"{pub.connection.id}:")
        assert isinstance(message.timestamp, int) and message.timestamp > 0


@pytest.mark.parametrize("fmt", FORMATS)
async def test_batch_publish_is_one_protocol_message_with_one_serial_each(realtime_factory: RealtimeFactory,
                                                                         fmt: str) -> None:
    client = await realtime_factory(format=fmt)
    channel = client.channels.get(channel_name())
    stream = channel.messages()
    await stream.started()

    result = await channel.publish([Message(name="a", data="1"), Message(name="b", data="2"),
                                    Message(name="c", data="3")])

    received = await take(stream, 3)
    assert [m.serial for m in received] == result.serials
    assert len(set(result.serials)) == 3 and result.serials == sorted(result.serials)  # type: ignore[type-var]
    prefix = received[0].id.rsplit(":", 1)[0]  # type: ignore[union-attr]
    assert [m.id for m in received] == [f"{prefix}:{i}" for i in range(3)]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_pipelined_publishes_ack_in_order_and_match_delivery(realtime_factory: RealtimeFactory,
                                                                   fmt: str) -> None:
    pub = await realtime_factory(format=fmt)
    sub = await realtime_factory(format=fmt)
    name = channel_name()
    stream = sub.channels.get(name).messages()
    await stream.started()
    channel = pub.channels.get(name)

    results = await asyncio.gather(*(channel.publish("n", str(i)) for i in range(300)))

    serials = [r.serials[0] for r in results]
    assert serials == sorted(serials)  # type: ignore[type-var]
    assert len(set(serials)) == 300
    received = await take(stream, 300)
    assert [m.data for m in received] == [str(i) for i in range(300)]
    assert [m.serial for m in received] == serials


async def test_name_filter_on_iterator_and_callback(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    channel = client.channels.get(channel_name())
    keep_stream = channel.messages(name="keep")
    either_stream = channel.messages(name=["keep", "other"])
    called: list[str] = []
    three_called = asyncio.Event()

    async def on_keep(message: Message) -> None:
        await asyncio.sleep(0)  # an async listener: awaits must not reorder its events
        called.append(str(message.data))
        if len(called) == 3:
            three_called.set()

    await channel.subscribe(on_keep, name="keep")
    for index, event in enumerate(["skip", "keep", "other", "keep", "skip", "keep"]):
        await channel.publish(event, str(index))

    assert [m.data for m in await take(keep_stream, 3)] == ["1", "3", "5"]
    assert [m.data for m in await take(either_stream, 4)] == ["1", "2", "3", "5"]
    async with asyncio.timeout(WAIT):
        await three_called.wait()
    assert called == ["1", "3", "5"]


async def test_unsubscribe_stops_callbacks(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    channel = client.channels.get(channel_name())
    first_listener: list[str] = []
    stream = channel.messages()
    await channel.subscribe(lambda m: first_listener.append(str(m.data)))
    await channel.publish("x", "before")
    await take(stream, 1)
    channel.unsubscribe()
    await channel.publish("x", "after")
    assert [m.data for m in await take(stream, 1)] == ["after"]
    assert first_listener == ["before"]


async def test_echo_false_suppresses_own_messages_only(realtime_factory: RealtimeFactory) -> None:
    quiet = await realtime_factory(echo_messages=False)
    other = await realtime_factory()
    name = channel_name()
    stream = quiet.channels.get(name).messages()
    await stream.started()
    await quiet.channels.get(name).publish("own", "from-quiet")
    await other.channels.get(name).publish("other", "from-other")
    # The channel has one order: an echo of "own" would have arrived before "from-other".
    assert [m.data for m in await take(stream, 1)] == ["from-other"]


async def test_detach_ends_iteration_and_reattach_delivers_again(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    channel = client.channels.get(channel_name())
    stream = channel.messages()
    await stream.started()
    assert channel.state.value == "attached"
    await channel.detach()
    assert channel.state is ChannelState.DETACHED
    async with asyncio.timeout(WAIT):
        leftovers = [m async for m in stream]
    assert leftovers == []
    again = channel.messages()
    await again.started()
    await channel.publish("x", "after-reattach")
    assert [m.data for m in await take(again, 1)] == ["after-reattach"]


async def test_transient_publish_without_attaching(realtime_factory: RealtimeFactory) -> None:
    pub = await realtime_factory()
    sub = await realtime_factory()
    name = channel_name()
    stream = sub.channels.get(name).messages()
    await stream.started()
    result = await pub.channels.get(name).publish("t", "transient")
    assert pub.channels.get(name).state is ChannelState.INITIALIZED
    assert [m.serial for m in await take(stream, 1)] == result.serials


@pytest.mark.parametrize("fmt", FORMATS)
async def test_publish_to_invalid_channel_name_is_nacked(realtime_factory: RealtimeFactory, fmt: str) -> None:
    client = await realtime_factory(format=fmt)
    with pytest.raises(AblyError) as caught:
        await client.channels.get(":bad").publish("x", "y")
    assert caught.value.code == 40010
    assert caught.value.status_code == 400
    result = await client.channels.get(channel_name()).publish("x", "still-works")
    assert result.serials[0]


async def test_attach_to_invalid_channel_fails_the_channel_only(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    channel = client.channels.get(",bad")
    with pytest.raises(AblyError) as caught:
        await channel.attach()
    assert caught.value.code == 40010
    assert channel.state is ChannelState.FAILED
    assert channel.error_reason is not None and channel.error_reason.code == 40010
    assert client.connection.state == "connected"


async def test_oversize_publish_is_refused_client_side(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    channel = client.channels.get(channel_name())
    limit = client.connection.max_message_size
    with pytest.raises(AblyError) as caught:
        await channel.publish("big", "x" * (limit + 1))
    assert caught.value.code == 40009
    page = await channel.history()
    assert page.items == []


@pytest.mark.parametrize("fmt", FORMATS)
async def test_oversize_publish_is_nacked_by_the_broker(realtime_factory: RealtimeFactory, fmt: str) -> None:
    client = await realtime_factory(format=fmt, max_message_size=10 * 1024 * 1024)
    channel = client.channels.get(channel_name())
    assert client.connection.details is not None and client.connection.details.max_message_size
    with pytest.raises(AblyError) as caught:
        await channel.publish("big", b"x" * (client.connection.details.max_message_size + 1))
    assert caught.value.code == 40009
    assert caught.value.status_code == 413
    assert client.connection.state == "connected"
    result = await channel.publish("small", "fits")
    assert result.serials[0]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_rewind_replays_the_last_messages_then_live(realtime_factory: RealtimeFactory, fmt: str) -> None:
    pub = await realtime_factory(format=fmt)
    sub = await realtime_factory(format=fmt)
    name = channel_name()
    for i in range(5):
        await pub.channels.get(name).publish("m", str(i))
    channel = sub.channels.get(name, params={"rewind": "3"})
    stream = channel.messages()
    await stream.started()
    await pub.channels.get(name).publish("m", "live")
    assert [m.data for m in await take(stream, 4)] == ["2", "3", "4", "live"]
    assert channel.params.get("rewind") == "3"


async def test_requested_modes_limit_the_attachment(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    channel = client.channels.get(channel_name(), modes=[ChannelMode.SUBSCRIBE])
    await channel.attach()
    assert channel.modes == {ChannelMode.SUBSCRIBE}
    with pytest.raises(AblyError) as caught:
        client.channels.get(channel.name, modes=[ChannelMode.PUBLISH])
    assert caught.value.code == 40000
    await channel.set_options(modes=[ChannelMode.SUBSCRIBE, ChannelMode.PUBLISH])
    assert channel.modes == {ChannelMode.SUBSCRIBE, ChannelMode.PUBLISH}
