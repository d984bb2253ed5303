"""Values one wire format cannot carry are refused at ingest, naming the field; nothing else is lost.

Each case is published raw (a JSON text frame, or a msgpack frame built by hand), between
subscribers in both formats: the bad publish is NACKed with 40000, the next good one is ACKed
on the same connection and reaches both subscribers, and history reads in both formats.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgpack
import pytest

from broker.protocol.actions import Action
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

BIG = 2**64


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=Path(tmp_path_factory.mktemp("values")) / "broker.db").start()
    yield proc
    proc.stop()


def auth(broker: BrokerProcess) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}


def json_publish(channel: str, serial: int, message: str) -> str:
    return f'{{"action":15,"channel":"{channel}","msgSerial":{serial},"messages":[{message}]}}'


def msgpack_publish(channel: str, serial: int, message: dict[object, object]) -> bytes:
    return msgpack.packb({"action": 15, "channel": channel, "msgSerial": serial, "messages": [message]},
                         use_bin_type=True)


JSON_CASES = {
    "nan-extras": ('{"data":"a","extras":{"x":NaN}}', "extras.x"),
    "infinity-extras": ('{"data":"a","extras":{"h":{"y":[1,-Infinity]}}}', "extras.h.y[1]"),
    "nan-data-object": ('{"data":{"v":Infinity}}', "data.v"),
    "big-int-extras": (f'{{"data":"a","extras":{{"n":{BIG}}}}}', "extras.n"),
    "big-negative-int": (f'{{"data":"a","extras":{{"n":-{BIG}}}}}', "extras.n"),
    "big-timestamp": (f'{{"data":"a","timestamp":{BIG}}}', "timestamp"),
    "lone-surrogate-data": ('{"data":"\\ud800"}', "data"),
    "lone-surrogate-name": ('{"name":"\\udfff","data":"a"}', "name"),
    "lone-surrogate-key": ('{"data":"a","extras":{"\\ud800":1}}', "extras key"),
}

MSGPACK_CASES = {
    "nan-float": ({"data": "a", "extras": {"x": float("nan")}}, "extras.x"),
    "inf-float": ({"data": "a", "extras": {"x": float("inf")}}, "extras.x"),
    "bytes-key": ({"data": "a", "extras": {b"k": "v"}}, "extras"),
    "bytes-value": ({"data": "a", "extras": {"k": b"v"}}, "extras.k"),
    "int-key": ({"data": "a", "extras": {1: "v"}}, "extras"),
    "ext-type": ({"data": "a", "extras": {"t": msgpack.ExtType(5, b"x")}}, "extras.t"),
    "bytes-in-data-object": ({"data": {"k": b"v"}}, "data.k"),
}


async def subscribers(broker: BrokerProcess, channel: str) -> list[WireClient]:
    subs = []
    for fmt in ("json", "msgpack"):
        sub = await WireClient.open(broker.ws_url, fmt, key=broker.key)
        await sub.connected()
        await sub.attach(channel)
        subs.append(sub)
    return subs


async def assert_fan_out_continues(broker: BrokerProcess, pub: WireClient, subs: list[WireClient], channel: str) -> None:
    """The next publish is ACKed, both subscribers get exactly it, and history reads in both formats."""
    ack = await pub.ack(await pub.publish(channel, [{"data": "after"}]))
    assert ack["action"] == Action.ACK
    for sub in subs:
        msg = await sub.expect(Action.MESSAGE)
        assert [m["data"] for m in msg["messages"]] == ["after"], sub.fmt
        await sub.close()
    url = f"{broker.http_url}/channels/{channel}/messages"
    as_json = httpx.get(url, headers=auth(broker))
    assert as_json.status_code == 200 and [m["data"] for m in json.loads(as_json.text)] == ["after"]
    as_msgpack = httpx.get(url, headers={**auth(broker), "Accept": "application/x-msgpack"})
    assert as_msgpack.status_code == 200 and [m["data"] for m in msgpack.unpackb(as_msgpack.content)] == ["after"]


@pytest.mark.parametrize("case", sorted(JSON_CASES))
async def test_json_value_refused_and_fan_out_continues(target: BrokerProcess, case: str) -> None:
    message, field = JSON_CASES[case]
    channel = f"values-json-{case}"
    subs = await subscribers(target, channel)
    pub = await WireClient.open(target.ws_url, "json", key=target.key)
    await pub.connected()
    await pub.send_raw(json_publish(channel, 0, message))
    pub.msg_serial = 1
    nack = await pub.ack(0)
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40000
    assert field in nack["error"]["message"], nack["error"]["message"]
    await assert_fan_out_continues(target, pub, subs, channel)
    await pub.close()


@pytest.mark.parametrize("case", sorted(MSGPACK_CASES))
async def test_msgpack_value_refused_and_fan_out_continues(target: BrokerProcess, case: str) -> None:
    message, field = MSGPACK_CASES[case]
    channel = f"values-msgpack-{case}"
    subs = await subscribers(target, channel)
    pub = await WireClient.open(target.ws_url, "msgpack", key=target.key)
    await pub.connected()
    await pub.send_raw(msgpack_publish(channel, 0, message))
    pub.msg_serial = 1
    nack = await pub.ack(0)
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40000
    assert field in nack["error"]["message"], nack["error"]["message"]
    await assert_fan_out_continues(target, pub, subs, channel)
    await pub.close()


async def test_refused_value_in_presence_is_nacked(target: BrokerProcess) -> None:
    c = await WireClient.open(target.ws_url, "msgpack", key=target.key, clientId="p")
    await c.connected()
    await c.attach("values-presence")
    await c.send_raw(msgpack.packb({"action": Action.PRESENCE, "channel": "values-presence", "msgSerial": 0,
                                    "presence": [{"action": 2, "extras": {"k": b"v"}}]}, use_bin_type=True))
    c.msg_serial = 1
    nack = await c.ack(0)
    assert nack["action"] == Action.NACK and "extras.k" in nack["error"]["message"]
    ack = await c.ack(await c.publish("values-presence", [{"data": "still here"}]))
    assert ack["action"] == Action.ACK
    await c.close()


@pytest.mark.parametrize("body,field", [(b'{"data":"a","extras":{"x":NaN}}', "extras.x"),
                                        (f'[{{"data":"a","extras":{{"n":{BIG}}}}}]'.encode(), "extras.n"),
                                        (b'{"data":"\\ud800"}', "data")])
def test_rest_publish_refuses_values_json_cannot_carry(target: BrokerProcess, body: bytes, field: str) -> None:
    resp = httpx.post(f"{target.http_url}/channels/values-rest/messages", content=body,
                      headers={**auth(target), "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 40000
    assert field in resp.json()["error"]["message"]


def test_rest_publish_refuses_bytes_in_msgpack_extras(target: BrokerProcess) -> None:
    body = msgpack.packb({"data": "a", "extras": {b"k": b"v"}}, use_bin_type=True)
    resp = httpx.post(f"{target.http_url}/channels/values-rest-mp/messages", content=body,
                      headers={**auth(target), "Content-Type": "application/x-msgpack"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 40000


async def test_values_at_the_edges_of_the_range_are_carried(target: BrokerProcess) -> None:
    """What the wire accepts reaches both formats intact: the limits are not off by one."""
    extras = {"max": 2**64 - 1, "min": -(2**63), "f": 1.5e308, "deep": {"a": [{"b": [None, True]}]}, "u": "é\u2028"}
    subs = await subscribers(target, "values-edges")
    pub = await WireClient.open(target.ws_url, "json", key=target.key)
    await pub.connected()
    ack = await pub.ack(await pub.publish("values-edges", [{"data": "edge", "extras": extras}]))
    assert ack["action"] == Action.ACK
    for sub in subs:
        msg = await sub.expect(Action.MESSAGE)
        assert msg["messages"][0]["extras"] == extras
        await sub.close()
    await pub.close()


@pytest.mark.parametrize("raw_id", ["NaN", "1e999", '{"deep": [1, 2]}', str(BIG)])
async def test_a_heartbeat_id_that_is_not_a_string_is_not_echoed(target: BrokerProcess, raw_id: str) -> None:
    """Found by tests/fuzz: echoing a NaN id made the reply unencodable and dropped the socket."""
    c = await WireClient.open(target.ws_url, "json", key=target.key)
    await c.connected()
    await c.send_raw(f'{{"action":0,"id":{raw_id}}}')
    reply = await c.expect(Action.HEARTBEAT)
    assert "id" not in reply
    await c.send({"action": Action.HEARTBEAT, "id": "still-here"})
    assert (await c.expect(Action.HEARTBEAT))["id"] == "still-here"
    await c.close()
