"""Bad ANNOTATION frames and refused annotations are NACKed; the broker keeps serving."""

from __future__ import annotations

from typing import Any

import pytest

from broker.protocol.actions import Action, Flag
from tests.broker.test_bad_input import assert_still_serving, connected
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient


async def annotate(c: WireClient, channel: str, annotations: Any) -> dict[str, Any]:
    serial = c.msg_serial
    c.msg_serial += 1
    await c.send({"action": Action.ANNOTATION, "channel": channel, "msgSerial": serial, "annotations": annotations})
    return await c.ack(serial)


async def a_message(c: WireClient, channel: str) -> str:
    ack = await c.ack(await c.publish(channel, [{"data": "x"}]))
    return str(ack["res"][0]["serials"][0])


@pytest.mark.parametrize("annotations, code", [
    ([], 40000), ("nope", 40000), (["x"], 40000), ([{"type": 5, "messageSerial": "s"}], 40000),
    ([{"type": "r:flag.v1"}], 40003), ([{"type": "r:nosuch.v1", "messageSerial": "s"}], 40003),
    ([{"type": "r:flag.v1", "messageSerial": "s", "count": "many"}], 40000),
    ([{"type": "r:flag.v1", "messageSerial": "not-a-serial"}], 40400),
])
async def test_malformed_annotations_are_nacked(broker: BrokerProcess, annotations: Any, code: int) -> None:
    c = await connected(broker, clientId="ann")
    nack = await annotate(c, "ann:bad", annotations)
    assert nack["action"] == Action.NACK and nack["error"]["code"] == code, nack
    await c.close()
    await assert_still_serving(broker)


async def test_annotating_without_the_mode_or_the_rule_is_refused(broker_factory: type[BrokerProcess]) -> None:
    broker = broker_factory(extra_args=["--channel-rules", '{"locked": {"mutableMessages": false}}']).start()
    c = await connected(broker, clientId="ann")
    serial = await a_message(c, "locked:1")
    nack = await annotate(c, "locked:1", [{"type": "r:flag.v1", "messageSerial": serial}])
    assert nack["error"]["code"] == 93002, "annotations need the channel's mutableMessages rule"

    await c.attach("plain:1", flags=int(Flag.PUBLISH | Flag.SUBSCRIBE))
    serial = await a_message(c, "plain:1")
    nack = await annotate(c, "plain:1", [{"type": "r:flag.v1", "messageSerial": serial}])
    assert nack["error"]["code"] == 40160, "attached without annotation_publish"
    ack = await annotate(c, "other:1", [{"type": "r:flag.v1", "messageSerial": await a_message(c, "other:1")}])
    assert ack["action"] == Action.ACK and ack["res"][0]["serials"][0]
    await c.close()


async def test_ephemeral_mixed_batch_is_nacked(broker: BrokerProcess) -> None:
    c = await connected(broker)
    ack = await c.ack(await c.publish("eph", [{"data": "a", "extras": {"ephemeral": True}}, {"data": "b"}]))
    assert ack["action"] == Action.NACK and ack["error"]["code"] == 40003
    await c.close()
    await assert_still_serving(broker)
