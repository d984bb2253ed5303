"""Append rollup on egress, seen by the Python client: joined text, bounded hold, order, late joiners.

No test measures time: each publishes a burst (all appends in flight at once, so they reach the
broker well inside a 500 ms window) or awaits the delivery a rule promises, bounded by WAIT.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from client import AblyError, Message, MessageAction, Realtime
from client.realtime.channel import RealtimeChannel
from tests.client.conftest import FAST, WAIT, RealtimeFactory, take
from tests.support.broker import BrokerProcess

SLOW = {"appendRollupWindow": "500"}
TOKENS = [f"t{i} " for i in range(20)]


def status(value: str) -> dict[str, Any]:
    return {"ai": {"transport": {"stream": "true", "status": value, "stream-id": "s1"}}}


def channel_name() -> str:
    return f"rollup-{uuid.uuid4().hex[:10]}"


async def start_stream(channel: RealtimeChannel) -> str:
    serial = (await channel.publish("ai-output", "", extras=status("streaming"))).serials[0]
    assert serial is not None
    return serial


async def burst(channel: RealtimeChannel, serial: str, tokens: list[str], end: str | None = "complete") -> None:
    """All appends in flight at once, then (optionally) the one that ends the stream."""
    await asyncio.gather(*(channel.append_message(Message(serial=serial, data=t, extras=status("streaming")))
                           for t in tokens))
    if end is not None:
        await channel.append_message(Message(serial=serial, data="", extras=status(end)))


async def until_end(stream: AsyncIterator[Message], timeout: float = WAIT) -> list[Message]:
    """Messages up to and including the append that ends the stream."""
    out: list[Message] = []
    async with asyncio.timeout(timeout):
        async for message in stream:
            out.append(message)
            if message.extras and message.extras["ai"]["transport"]["status"] != "streaming":
                return out
    raise AssertionError(f"the stream ended without its final append: {out!r}")


def text(messages: list[Message]) -> str:
    return "".join(str(m.data or "") for m in messages)


async def test_a_subscriber_window_joins_the_burst_and_loses_nothing(realtime_factory: RealtimeFactory) -> None:
    agent, reader = await realtime_factory(), await realtime_factory()
    name = channel_name()
    listening = reader.channels.get(name, params=SLOW)
    stream = listening.messages()
    await stream.started()
    assert listening.params.get("appendRollupWindow") == "500"
    channel = agent.channels.get(name)
    serial = await start_stream(channel)
    await burst(channel, serial, TOKENS)

    got = await until_end(stream)
    create, appends = got[0], got[1:]
    assert create.action is MessageAction.CREATE
    assert all(m.action is MessageAction.APPEND and m.serial == serial for m in appends)
    assert text(appends) == "".join(TOKENS)
    assert len(appends) <= 4, f"{len(TOKENS) + 1} appends in one burst were not rolled up: {len(appends)} frames"
    versions = [m.version.serial for m in appends if m.version]
    assert len(versions) == len(appends) and versions == sorted(versions)
    assert appends[-1].extras == status("complete")  # the last append's extras win

    stored = await channel.get_message(serial)  # storage and history keep the whole stream
    assert stored.data == "".join(TOKENS) and stored.extras == status("complete")
    [item] = (await channel.history()).items
    assert item.data == "".join(TOKENS)
    assert len((await channel.get_message_versions(serial)).items) >= 2


async def test_a_held_append_with_nothing_after_it_is_still_delivered(realtime_factory: RealtimeFactory) -> None:
    agent, reader = await realtime_factory(), await realtime_factory()
    name = channel_name()
    stream = reader.channels.get(name, params=SLOW).messages()
    await stream.started()
    channel = agent.channels.get(name)
    serial = await start_stream(channel)
    await burst(channel, serial, ["first", " second", " third"], end=None)

    got = await take(stream, 2)  # the create, then the first append at once
    assert got[1].data == "first"
    rest = [got[1]]
    while text(rest) != "first second third":  # the held rest comes when its window ends
        rest += await take(stream, 1)
    assert len(rest) <= 3


async def test_a_held_append_goes_before_the_next_publication(realtime_factory: RealtimeFactory) -> None:
    agent, reader = await realtime_factory(), await realtime_factory()
    name = channel_name()
    stream = reader.channels.get(name, params=SLOW).messages()
    await stream.started()
    channel = agent.channels.get(name)
    serial = await start_stream(channel)
    await burst(channel, serial, ["a", "b", "c"], end=None)
    await channel.publish("other", "next")

    got = await take(stream, 3)  # create, "a" at once, then "bc" released by the publish, then "other"
    while got[-1].name != "other":
        got += await take(stream, 1)
    assert got[-1].action is MessageAction.CREATE and got[-1].data == "next"
    assert text(got[1:-1]) == "abc" and all(m.action is MessageAction.APPEND for m in got[1:-1])


async def test_a_late_subscriber_first_gets_the_whole_message(realtime_factory: RealtimeFactory) -> None:
    agent, early, late = await realtime_factory(), await realtime_factory(), await realtime_factory()
    name = channel_name()
    early_stream = early.channels.get(name, params=SLOW).messages()
    await early_stream.started()
    channel = agent.channels.get(name)
    serial = await start_stream(channel)
    await burst(channel, serial, TOKENS[:10], end=None)
    late_stream = late.channels.get(name, params=SLOW).messages()
    await late_stream.started()
    await burst(channel, serial, TOKENS[10:])

    early_got = await until_end(early_stream)
    assert text(early_got[1:]) == "".join(TOKENS)
    late_got = await until_end(late_stream)
    assert late_got[0].action is MessageAction.UPDATE and late_got[0].serial == serial
    assert str(late_got[0].data).startswith("".join(TOKENS[:10]))
    assert all(m.action is MessageAction.APPEND for m in late_got[1:])
    assert text(late_got) == "".join(TOKENS)


@pytest.fixture
async def slow_broker(broker_factory: Any) -> AsyncIterator[BrokerProcess]:
    """A broker whose default window is 500 ms."""
    yield broker_factory(extra_args=["--append-rollup-window", "500"]).start()


async def connect(broker: BrokerProcess, **kwargs: Any) -> Realtime:
    client = Realtime(key=broker.key, host=broker.host, port=broker.port, tls=False, timeouts=FAST, **kwargs)
    await client.connect()
    return client


async def test_the_publishers_transport_param_and_the_broker_default(slow_broker: BrokerProcess) -> None:
    """Ably's semantics: the appending connection's `appendRollupWindow` sets its appends' window,
    else the broker default applies; a subscriber's channel param overrides both."""
    reader = await connect(slow_broker)
    per_append = await connect(slow_broker, transport_params={"appendRollupWindow": "0"})
    defaulted = await connect(slow_broker)
    overriding = await connect(slow_broker)
    try:
        name = channel_name()
        stream = reader.channels.get(name).messages()
        forced = overriding.channels.get(name, params={"appendRollupWindow": "0"}).messages()
        await stream.started()
        await forced.started()

        channel = per_append.channels.get(name)
        serial = await start_stream(channel)
        await burst(channel, serial, TOKENS)
        got = await until_end(stream)
        assert [m.data for m in got[1:]] == TOKENS + [""], "window 0: every append as it comes"

        channel = defaulted.channels.get(name)
        serial = await start_stream(channel)
        await burst(channel, serial, TOKENS)
        got = await until_end(stream)
        assert text(got[1:]) == "".join(TOKENS) and len(got) - 1 <= 4, "the 500 ms default rolls up"
        unrolled = await until_end(forced)
        unrolled = await until_end(forced)  # the second stream, through the subscriber's own window 0
        assert [m.data for m in unrolled[1:]] == TOKENS + [""]
    finally:
        for client in (reader, per_append, defaulted, overriding):
            await client.close()


async def test_a_window_outside_the_documented_values_is_refused(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    with pytest.raises(AblyError) as caught:
        await client.channels.get(channel_name(), params={"appendRollupWindow": "33"}).attach()
    assert (caught.value.code, caught.value.status_code) == (40000, 400)
    assert "appendRollupWindow" in caught.value.message
    bad = await realtime_factory(transport_params={"appendRollupWindow": "fast"}, connect=False)
    with pytest.raises(AblyError) as refused:
        await bad.connect()
    assert refused.value.code == 40000
