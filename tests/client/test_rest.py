"""The REST client against a real broker: time, publish, history pages, errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from client import AblyError, Data, Message, Rest
from tests.client.conftest import RealtimeFactory, take
from tests.support.broker import BrokerProcess

FORMATS = ["json", "msgpack"]


def channel_name() -> str:
    return f"rest-{uuid.uuid4().hex[:10]}"


async def test_time_is_the_server_clock(rest_factory: Callable[..., Rest]) -> None:
    rest = rest_factory()
    before = int(time.time() * 1000)
    server = await rest.time()
    after = int(time.time() * 1000)
    assert before - 5000 <= server <= after + 5000


@pytest.mark.parametrize("fmt", FORMATS)
async def test_publish_then_history_in_both_directions(rest_factory: Callable[..., Rest], fmt: str) -> None:
    rest = rest_factory(format=fmt)
    channel = rest.channels.get(channel_name())
    payloads: list[Data] = ["text", b"\x00\xffbytes", {"k": [1, 2]}, [True, None]]
    serials = []
    for index, data in enumerate(payloads):
        result = await channel.publish(f"m{index}", data, extras={"headers": {"i": str(index)}})
        serials.extend(result.serials)
    batch = await channel.publish([Message(name="b0", data="x"), Message(name="b1", data="y")])
    serials.extend(batch.serials)

    forwards = await channel.history(direction="forwards")
    backwards = await channel.history()

    assert [m.serial for m in forwards.items] == serials
    assert [m.serial for m in backwards.items] == serials[::-1]
    assert [m.data for m in forwards.items[:4]] == payloads
    assert [type(m.data) for m in forwards.items[:4]] == [type(p) for p in payloads]
    assert forwards.items[1].extras == {"headers": {"i": "1"}}
    assert forwards.is_last()


async def test_history_pages_follow_link_headers(rest_factory: Callable[..., Rest]) -> None:
    rest = rest_factory()
    channel = rest.channels.get(channel_name())
    for i in range(5):
        await channel.publish("n", str(i))

    page = await channel.history(direction="forwards", limit=2)
    pages = [[m.data for m in page.items]]
    while page.has_next():
        next_page = await page.next()
        assert next_page is not None
        page = next_page
        pages.append([m.data for m in page.items])

    assert pages[0] == ["0", "1"] and pages[1] == ["2", "3"] and pages[2][0] == "4"
    assert [d for p in pages for d in p] == ["0", "1", "2", "3", "4"]
    assert await page.next() is None
    first_page = await (await channel.history(direction="forwards", limit=2)).first()
    assert [m.data for m in first_page.items] == ["0", "1"]
    every = [m.data async for m in (await channel.history(limit=2)).all()]
    assert every == ["4", "3", "2", "1", "0"]


async def test_idempotent_ids_are_set_for_rest_publishes(rest_factory: Callable[..., Rest]) -> None:
    rest = rest_factory()
    channel = rest.channels.get(channel_name())
    await channel.publish([Message(name="a", data="1"), Message(name="b", data="2")])
    items = (await channel.history(direction="forwards")).items
    base = items[0].id.rsplit(":", 1)[0]  # type: ignore[union-attr]
    assert [m.id for m in items] == [f"{base}:0", f"{base}:1"]


async def test_history_until_attach_stops_at_the_attach_point(rest_factory: Callable[..., Rest],
                                                              realtime_factory: RealtimeFactory) -> None:
    rest = rest_factory()
    name = channel_name()
    for i in range(3):
        await rest.channels.get(name).publish("before", str(i))
    client = await realtime_factory()
    channel = client.channels.get(name)
    stream = channel.messages()
    await stream.started()
    for i in range(2):
        await rest.channels.get(name).publish("after", str(i))

    live = await take(stream, 2)
    earlier = await channel.history(until_attach=True)

    assert [m.data for m in earlier.items] == ["2", "1", "0"]
    assert [m.data for m in live] == ["0", "1"] and {m.name for m in live} == {"after"}


async def test_until_attach_needs_an_attached_channel(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    with pytest.raises(AblyError) as caught:
        await client.channels.get(channel_name()).history(until_attach=True)
    assert caught.value.code == 90001


async def test_errors_carry_code_and_status(rest_factory: Callable[..., Rest], broker: BrokerProcess) -> None:
    rest = rest_factory()
    with pytest.raises(AblyError) as invalid:
        await rest.channels.get(":bad").publish("x", "y")
    assert (invalid.value.code, invalid.value.status_code) == (40010, 400)

    key_name = broker.key.split(":")[0]
    wrong = rest_factory(key=f"{key_name}:not-the-secret")
    with pytest.raises(AblyError) as unauthorised:
        await wrong.channels.get(channel_name()).history()
    assert unauthorised.value.status_code == 401
    assert 40100 <= unauthorised.value.code < 40200


async def test_oversize_rest_publish(rest_factory: Callable[..., Rest]) -> None:
    local = rest_factory()
    with pytest.raises(AblyError) as client_side:
        await local.channels.get(channel_name()).publish("big", "x" * 70000)
    assert client_side.value.code == 40009

    lenient = rest_factory(max_message_size=10 * 1024 * 1024)
    with pytest.raises(AblyError) as broker_side:
        await lenient.channels.get(channel_name()).publish("big", "x" * 70000)
    assert (broker_side.value.code, broker_side.value.status_code) == (40009, 413)
