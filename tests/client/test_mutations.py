"""Update, delete and append (realtime and REST), as AI Transport streams tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from client import AblyError, Message, MessageAction, MessageOperation, Rest
from tests.client.conftest import RealtimeFactory, take

AI_EXTRAS = {"headers": {"ai.run": "r1", "ai.role": "assistant"}}


def channel_name() -> str:
    return f"mutable-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_streamed_appends_build_the_message(realtime_factory: RealtimeFactory, fmt: str) -> None:
    agent = await realtime_factory(format=fmt)
    reader = await realtime_factory(format=fmt)
    name = channel_name()
    stream = reader.channels.get(name).messages()
    await stream.started()
    channel = agent.channels.get(name)

    created = await channel.publish("response", "", extras=AI_EXTRAS)
    serial = created.serials[0]
    assert serial is not None
    tokens = [f"tok{i} " for i in range(20)]
    appends = [asyncio.create_task(channel.append_message(Message(serial=serial, data=t, extras=AI_EXTRAS),
                                                          MessageOperation(description="stream")))
               for t in tokens]
    results = await asyncio.gather(*appends)

    versions = [r.version_serial for r in results]
    assert all(versions) and versions == sorted(versions)  # type: ignore[type-var]
    received = await take(stream, 21)
    assert received[0].action is MessageAction.CREATE and received[0].data == ""
    assert [m.action for m in received[1:]] == [MessageAction.APPEND] * 20
    assert "".join(str(m.data) for m in received[1:]) == "".join(tokens)
    assert {m.serial for m in received} == {serial}
    assert received[-1].version is not None and received[-1].version.serial == versions[-1]
    assert received[-1].version.description == "stream"

    stored = await channel.get_message(serial)
    assert stored.data == "".join(tokens)
    assert stored.extras == AI_EXTRAS
    assert stored.action is MessageAction.UPDATE
    [in_history] = (await channel.history()).items
    assert in_history.data == "".join(tokens) and in_history.serial == serial


async def test_update_and_delete_forward_fields_and_operation(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    name = channel_name()
    channel = client.channels.get(name)
    stream = channel.messages()
    await stream.started()
    serial = (await channel.publish("draft", "v1", extras={"headers": {"k": "1"}})).serials[0]

    updated = await channel.update_message(
        Message(serial=serial, name="final", data={"text": "v2"}, extras={"headers": {"k": "2"}}),
        MessageOperation(description="edit", metadata={"reason": "typo"}))
    deleted = await channel.delete_message(Message(serial=serial), MessageOperation(description="gone"))

    _, update, delete = await take(stream, 3)
    assert (update.action, update.name, update.data, update.extras) == (
        MessageAction.UPDATE, "final", {"text": "v2"}, {"headers": {"k": "2"}})
    assert update.version is not None and update.version.serial == updated.version_serial
    assert (update.version.description, update.version.metadata) == ("edit", {"reason": "typo"})
    assert delete.action is MessageAction.DELETE and delete.version is not None
    assert delete.version.serial == deleted.version_serial
    versions = await channel.get_message_versions(serial)  # type: ignore[arg-type]
    assert [v.version.serial for v in versions.items if v.version] [-2:] == [updated.version_serial,
                                                                              deleted.version_serial]


async def test_rest_mutations(rest_factory: Callable[..., Rest]) -> None:
    rest = rest_factory()
    channel = rest.channels.get(channel_name())
    serial = (await channel.publish("m", "Hello")).serials[0]
    assert serial is not None
    appended = await channel.append_message(Message(serial=serial, data=", world", extras=AI_EXTRAS))
    assert appended.version_serial
    stored = await channel.get_message(serial)
    assert (stored.data, stored.extras) == ("Hello, world", AI_EXTRAS)
    updated = await channel.update_message(Message(serial=serial, data="Bye"))
    assert updated.version_serial and updated.version_serial > appended.version_serial
    assert (await channel.get_message(serial)).data == "Bye"


async def test_mutation_without_serial_is_refused_locally(realtime_factory: RealtimeFactory) -> None:
    client = await realtime_factory()
    with pytest.raises(AblyError) as caught:
        await client.channels.get(channel_name()).update_message(Message(data="x"))
    assert caught.value.code == 40003
