"""The Python client's annotations API against a real broker: publish, delete, raw subscribe,
summaries on ordinary subscribers, REST get and reads, modes and capabilities."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from client import (
    AblyError,
    Annotation,
    AnnotationAction,
    ChannelMode,
    Message,
    MessageAction,
    Realtime,
    Rest,
)
from tests.client.conftest import RealtimeFactory, first, take
from tests.support.broker import TEST_KEY, BrokerProcess

RAW = [ChannelMode.PUBLISH, ChannelMode.SUBSCRIBE, ChannelMode.ANNOTATION_PUBLISH, ChannelMode.ANNOTATION_SUBSCRIBE]


def channel_name() -> str:
    return f"ann-{uuid.uuid4().hex[:10]}"


def summary_of(message: Message) -> dict:  # type: ignore[type-arg]
    return (message.annotations or {}).get("summary") or {}


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_publish_subscribe_delete_and_read(realtime_factory: RealtimeFactory,
                                                 rest_factory: Callable[..., Rest], fmt: str) -> None:
    alice = await realtime_factory(format=fmt, client_id="alice")
    bob = await realtime_factory(format=fmt, client_id="bob")
    name = channel_name()
    watcher = bob.channels.get(name, modes=RAW)
    raw = watcher.annotations.events()
    await raw.started()
    plain = (await realtime_factory(format=fmt)).channels.get(name)  # default modes: summaries, no raw
    summaries = plain.messages()
    await summaries.started()
    channel = alice.channels.get(name)

    serial = (await channel.publish("reply", "hello")).serials[0]
    assert serial is not None
    await channel.annotations.publish(serial, Annotation(type="reaction:distinct.v1", name="up", data={"why": "ok"}))
    await watcher.annotations.publish(serial, Annotation(type="reaction:distinct.v1", name="up"))
    await channel.annotations.delete(serial, Annotation(type="reaction:distinct.v1", name="up"))

    got = await take(raw, 3)
    assert [(a.action, a.client_id) for a in got] == [(AnnotationAction.CREATE, "alice"),
                                                      (AnnotationAction.CREATE, "bob"),
                                                      (AnnotationAction.DELETE, "alice")]
    assert got[0].data == {"why": "ok"} and got[0].message_serial == serial
    assert all(a.serial and a.serial > serial and a.id and a.timestamp for a in got)

    final = {"reaction:distinct.v1": {"up": {"total": 1, "clientIds": ["bob"], "clipped": False}}}
    summary = await first(summaries, lambda m: m.action is MessageAction.SUMMARY and summary_of(m) == final)
    assert summary.serial == serial

    rest = rest_factory(format=fmt)
    page = await rest.channels.get(name).annotations.get(serial, limit=2)
    assert [a.client_id for a in page.items] == ["alice", "bob"] and page.has_next()
    rest_page = await page.next()
    assert rest_page is not None and [a.action for a in rest_page.items] == [AnnotationAction.DELETE]
    assert summary_of(await rest.channels.get(name).get_message(serial)) == final
    history = await channel.history()
    assert [summary_of(m) for m in history.items] == [final]


async def test_rest_publish_and_summary_types(realtime_factory: RealtimeFactory,
                                              rest_factory: Callable[..., Rest]) -> None:
    reader = await realtime_factory()
    name = channel_name()
    summaries = reader.channels.get(name).messages()
    await summaries.started()
    serial = (await reader.channels.get(name).publish("reply", "hi")).serials[0]
    assert serial is not None
    carol = rest_factory(client_id="carol").channels.get(name)
    await carol.annotations.publish(serial, Annotation(type="vote:unique.v1", name="yes"))
    await carol.annotations.publish(serial, Annotation(type="vote:unique.v1", name="no"))
    await carol.annotations.publish(serial, Annotation(type="stars:multiple.v1", name="s", count=3))
    anonymous = rest_factory().channels.get(name)
    await anonymous.annotations.publish(serial, Annotation(type="stars:multiple.v1", name="s"))
    await anonymous.annotations.publish(serial, Annotation(type="views:total.v1"))
    await carol.annotations.publish(serial, Annotation(type="read:flag.v1"))
    final = {
        "vote:unique.v1": {"no": {"total": 1, "clientIds": ["carol"], "clipped": False}},
        "stars:multiple.v1": {"s": {"total": 4, "clientIds": {"carol": 3}, "totalUnidentified": 1,
                                    "clipped": False, "totalClientIds": 1}},
        "views:total.v1": {"total": 1},
        "read:flag.v1": {"total": 1, "clientIds": ["carol"], "clipped": False},
    }
    await first(summaries, lambda m: m.action is MessageAction.SUMMARY and summary_of(m) == final)
    with pytest.raises(AblyError) as err:
        await anonymous.annotations.publish(serial, Annotation(type="read:flag.v1"))
    assert err.value.code == 40012, "flag.v1 needs an identified client"


async def test_raw_annotations_need_the_mode(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory(client_id="dave")
    channel = client.channels.get(channel_name())
    with pytest.raises(AblyError) as err:
        await channel.annotations.subscribe(lambda a: None)
    assert err.value.code == 93001, "the default modes do not include annotation_subscribe"
    with pytest.raises(AblyError) as missing:
        await channel.annotations.publish("01700000000000-000@nope:000", Annotation(type="read:flag.v1"))
    assert missing.value.status_code == 404


async def test_capabilities_gate_annotations(broker_factory: type[BrokerProcess]) -> None:
    key = 'tether.noann:noannsecretnoann={"*":["publish","subscribe","history"]}'
    broker = broker_factory(keys=[TEST_KEY, key], engine="memory").start()
    limited = key.split("={")[0]
    async with Realtime(key=limited, client_id="eve", host=broker.host, port=broker.port, tls=False) as client:
        channel = client.channels.get(channel_name(), modes=RAW)
        await channel.attach()
        assert channel.modes == {ChannelMode.PUBLISH, ChannelMode.SUBSCRIBE}, \
            "annotation modes are dropped without the annotation capabilities"
        serial = (await channel.publish("m", "x")).serials[0]
        assert serial is not None
        with pytest.raises(AblyError) as err:
            await channel.annotations.publish(serial, Annotation(type="read:flag.v1"))
        assert err.value.code == 40160


async def test_annotations_and_summaries_survive_kill_9(broker_factory: type[BrokerProcess]) -> None:
    broker = broker_factory().start()  # sqlite
    name = channel_name()
    async with Rest(key=broker.key, client_id="frank", host=broker.host, port=broker.port, tls=False) as rest:
        channel = rest.channels.get(name)
        serial = (await channel.publish("reply", "hi")).serials[0]
        assert serial is not None
        await channel.annotations.publish(serial, Annotation(type="feedback:unique.v1", name="good"))
        await channel.annotations.publish(serial, Annotation(type="feedback:unique.v1", name="bad"))
    broker.kill()
    broker.start()
    async with Rest(key=broker.key, host=broker.host, port=broker.port, tls=False) as rest:
        channel = rest.channels.get(name)
        assert [a.name for a in (await channel.annotations.get(serial)).items] == ["good", "bad"]
        assert summary_of(await channel.get_message(serial)) == {
            "feedback:unique.v1": {"bad": {"total": 1, "clientIds": ["frank"], "clipped": False}}}
