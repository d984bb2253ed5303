"""Bad input gets a clear Ably error, and the broker keeps serving and loses nothing."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from websockets.exceptions import ConnectionClosed

from broker.protocol.actions import Action
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient


async def connected(broker: BrokerProcess, fmt: str = "json", **params: str) -> WireClient:
    c = await WireClient.open(broker.ws_url, fmt, key=broker.key, **params)
    await c.connected()
    return c


async def assert_still_serving(broker: BrokerProcess) -> None:
    """A fresh client can still publish and read its message back: nothing was lost."""
    c = await connected(broker)
    ack = await c.ack(await c.publish("health", [{"data": "ok"}]))
    assert ack["action"] == Action.ACK
    await c.close()


@pytest.mark.parametrize("fmt,frame", [("json", "{not json"), ("json", "[1,2]"), ("json", b"\x93\x01"),
                                       ("msgpack", b"\xc1"), ("msgpack", "text frame on msgpack")])
async def test_malformed_frame_gets_connection_error(broker: BrokerProcess, fmt: str, frame: str | bytes) -> None:
    c = await connected(broker, fmt)
    await c.send_raw(frame)
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000 and err["error"]["statusCode"] == 400
    assert "channel" not in err
    await c.close()
    await assert_still_serving(broker)


async def test_unknown_action_gets_error(broker: BrokerProcess) -> None:
    c = await connected(broker)
    await c.send({"action": 99})
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000
    await assert_still_serving(broker)


async def test_message_without_msg_serial_is_an_error(broker: BrokerProcess) -> None:
    c = await connected(broker)
    await c.send({"action": Action.MESSAGE, "channel": "x", "messages": [{"data": "a"}]})
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000


@pytest.mark.parametrize("name", ["", ":leading-colon", ",comma", " space", "line\nbreak", "[unclosed", "[bogus]x"])
async def test_invalid_channel_name_on_attach(broker: BrokerProcess, name: str) -> None:
    c = await connected(broker)
    await c.send({"action": Action.ATTACH, "channel": name})
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40010 and err["error"]["statusCode"] == 400
    assert err["channel"] == name
    await assert_still_serving(broker)
    # The connection itself stays usable.
    ack = await c.ack(await c.publish("fine", [{"data": "x"}]))
    assert ack["action"] == Action.ACK
    await c.close()


async def test_invalid_channel_name_on_publish_is_nacked(broker: BrokerProcess) -> None:
    c = await connected(broker)
    nack = await c.ack(await c.publish(":bad", [{"data": "x"}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40010
    ack = await c.ack(await c.publish("good", [{"data": "x"}]))
    assert ack["action"] == Action.ACK
    await c.close()


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_oversized_message_is_nacked_with_40009(broker: BrokerProcess, fmt: str) -> None:
    c = await connected(broker, fmt)
    nack = await c.ack(await c.publish("big", [{"data": "x" * 70000}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40009
    # The limit is on the sum over one publish.
    nack = await c.ack(await c.publish("big", [{"data": "x" * 40000}, {"data": "y" * 40000}]))
    assert nack["error"]["code"] == 40009
    ack = await c.ack(await c.publish("big", [{"data": "x" * 60000}]))
    assert ack["action"] == Action.ACK
    await c.close()


@pytest.mark.parametrize("messages", [[], "nope", [{"data": 5}], [{"extras": "str"}], [{"name": 7}],
                                      [{"data": "!!", "encoding": "base64"}]])
async def test_malformed_messages_are_nacked(broker: BrokerProcess, messages: object) -> None:
    c = await connected(broker)
    serial = c.msg_serial
    c.msg_serial += 1
    await c.send({"action": Action.MESSAGE, "channel": "m", "msgSerial": serial, "messages": messages})
    nack = await c.ack(serial)
    assert nack["action"] == Action.NACK and nack["error"]["code"] in (40000, 40013)
    await c.close()


async def test_publish_without_publish_mode_is_nacked(broker: BrokerProcess) -> None:
    c = await connected(broker)
    attached = await c.attach("ro", flags=1 << 18)  # SUBSCRIBE only
    assert not attached["flags"] & (1 << 17)
    nack = await c.ack(await c.publish("ro", [{"data": "x"}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40160
    await c.close()


async def test_unsupported_protocol_version(broker: BrokerProcess) -> None:
    c = await WireClient.open(broker.ws_url, "json", key=broker.key, v="1")
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40017


@pytest.mark.parametrize("params,code", [({"key": "tether.root:wrong"}, 40101), ({"key": "nope.nokey:x"}, 40101),
                                         ({}, 40101), ({"key": "garbage"}, 40101)])
async def test_bad_credentials_get_error_after_upgrade(broker: BrokerProcess, params: dict[str, str], code: int) -> None:
    c = await WireClient.open(broker.ws_url, "json", **params)
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == code and err["error"]["statusCode"] == 401
    await assert_still_serving(broker)


async def test_msgpack_frame_with_truncated_map(broker: BrokerProcess) -> None:
    c = await connected(broker, "msgpack")
    await c.send_raw(msgpack.packb({"action": 15, "channel": "x"})[:-2])
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000
    await assert_still_serving(broker)


@pytest.mark.parametrize("fmt", ["xml", "MSGPACK", "json5"])
async def test_unsupported_format_is_refused_with_an_error(broker: BrokerProcess, fmt: str) -> None:
    """A `format=` the broker does not speak gets ERROR 40003 (in JSON) and a close, not a silent JSON session."""
    c = await WireClient.open(broker.ws_url, "json", key=broker.key, format=fmt)
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40003 and err["error"]["statusCode"] == 400
    assert fmt in err["error"]["message"]
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(c.ws.recv(), 5.0)
    await assert_still_serving(broker)
