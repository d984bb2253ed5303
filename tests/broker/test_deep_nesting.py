"""Deeply nested input is a clear 40000, never a RecursionError, a 500 or a traceback in the log."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgpack
import pytest

from broker.protocol.actions import Action
from broker.protocol.values import MAX_DEPTH
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

DEEP = 100_000


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=Path(tmp_path_factory.mktemp("nesting")) / "broker.db", engine="memory").start()
    yield proc
    proc.stop()
    assert "Traceback" not in proc.log(), proc.log()[-3000:]


def auth(broker: BrokerProcess) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_msgpack(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"  # fixarray(1) of fixarray(1) ... of nil


@pytest.mark.parametrize("frame", [nested_json(DEEP),
                                   '{"action":15,"channel":"n","msgSerial":0,"messages":[{"extras":{"a":'
                                   + nested_json(DEEP // 2) + "}}]}"])
async def test_deep_json_frame_is_a_connection_error_and_not_resumable(target: BrokerProcess, frame: str) -> None:
    c = await WireClient.open(target.ws_url, "json", key=target.key)
    connected = await c.connected()
    await c.send_raw(frame)
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000 and "nested too deeply" in err["error"]["message"]
    again = await WireClient.open(target.ws_url, "json", key=target.key, resume=connected["connectionDetails"]["connectionKey"])
    fresh = await again.connected()
    assert fresh["connectionId"] != connected["connectionId"] and fresh["error"]["code"] == 80008
    ack = await again.ack(await again.publish("n", [{"data": "fine"}]))
    assert ack["action"] == Action.ACK
    await again.close()


async def test_deep_msgpack_frame_is_a_connection_error(target: BrokerProcess) -> None:
    c = await WireClient.open(target.ws_url, "msgpack", key=target.key)
    await c.connected()
    await c.send_raw(msgpack.packb({"action": 15, "channel": "n", "msgSerial": 0})[:-1] + deep_msgpack(DEEP))
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_extras_nested_past_the_limit_are_nacked(target: BrokerProcess, fmt: str) -> None:
    """Decodable, but deeper than every format's encoder can be trusted with: NACK, connection kept."""
    deep: object = 1
    for _ in range(MAX_DEPTH + 1):
        deep = {"a": deep}
    c = await WireClient.open(target.ws_url, fmt, key=target.key)
    await c.connected()
    nack = await c.ack(await c.publish("n", [{"data": "x", "extras": deep}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40000
    assert "nested deeper than" in nack["error"]["message"]
    within: object = 1
    for _ in range(MAX_DEPTH - 1):
        within = {"a": within}
    ack = await c.ack(await c.publish("n", [{"data": "x", "extras": within}]))
    assert ack["action"] == Action.ACK
    await c.close()


@pytest.mark.parametrize("body,ctype", [(nested_json(DEEP).encode(), "application/json"),
                                        (('{"data":"x","extras":{"a":' + nested_json(DEEP // 2) + "}}").encode(),
                                         "application/json"),
                                        (deep_msgpack(DEEP), "application/x-msgpack")])
def test_deep_rest_body_is_400(target: BrokerProcess, body: bytes, ctype: str) -> None:
    resp = httpx.post(f"{target.http_url}/channels/n/messages", content=body,
                      headers={**auth(target), "Content-Type": ctype})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 40000


def test_deep_presence_cursor_is_400(target: BrokerProcess) -> None:
    cursor = base64.urlsafe_b64encode(nested_json(DEEP // 10).encode()).decode().rstrip("=")
    resp = httpx.get(f"{target.http_url}/channels/n/presence", params={"cursor": cursor}, headers=auth(target))
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 40003
