"""Fuzzing the broker over real sockets: after every input, the broker still serves a fresh client.

Each WebSocket input goes to a connected client that has attached a channel; the input is followed
by a well-formed publish (the sentinel), which must be answered — ACK or NACK for its msgSerial, or
a connection-level ERROR/CLOSED/DISCONNECTED before the socket closes. So no input may leave a
msgSerial unanswered, stall the connection, or drop it without an Ably error. REST inputs must
answer below 500 with an Ably error body. Bounded: FUZZ_EXAMPLES inputs per property.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from typing import Any
from urllib.parse import quote

import httpx
import msgpack
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from broker.protocol.actions import Action
from tests.fuzz.conftest import EXAMPLES, still_serves
from tests.fuzz.strategies import protocol_messages, query_params, rest_bodies
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

SENTINEL = "fuzz-sentinel"
ANSWER_TIMEOUT = 10.0
TERMINAL = (Action.ERROR, Action.DISCONNECTED, Action.CLOSED)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def encode(frame: dict[str, Any], fmt: str) -> str | bytes | None:
    """The frame on the wire, or None when the format cannot carry it (msgpack has no 2^64)."""
    if fmt == "json":
        return json.dumps(frame)  # NaN and Infinity included, as a careless client sends them
    try:
        return msgpack.packb(frame, use_bin_type=True)
    except (OverflowError, ValueError, TypeError):
        return None


def ends(frame: dict[str, Any]) -> bool:
    return frame.get("action") in (Action.DISCONNECT, Action.CLOSE)


def sentinel_serial(frame: dict[str, Any]) -> int:
    serial = frame.get("msgSerial")
    if isinstance(serial, int) and not isinstance(serial, bool) and 0 <= serial < 2**53:
        return serial + 1
    return 0


async def answered(client: WireClient, serial: int, asked_to_end: bool) -> str:
    """Wait for the sentinel's fate: 'answered' (ACK/NACK covering it) or 'ended' (an Ably error first,
    unless the input itself was a DISCONNECT or CLOSE, after which the broker may just close)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ANSWER_TIMEOUT
    terminal: dict[str, Any] | None = {} if asked_to_end else None
    while True:
        remaining = deadline - loop.time()
        assert remaining > 0, f"msgSerial {serial} unanswered and the connection still open"
        try:
            msg = await client.recv(remaining)
        except ConnectionClosed as closed:
            assert terminal is not None, f"connection dropped without an Ably error ({closed})"
            return "ended"
        except TimeoutError:
            raise AssertionError(f"msgSerial {serial} unanswered within {ANSWER_TIMEOUT} s") from None
        action = msg.get("action")
        if action in (Action.ACK, Action.NACK):
            first, count = msg.get("msgSerial", -1), msg.get("count", 1)
            if first <= serial < first + count:
                return "answered"
        elif action in TERMINAL and not msg.get("channel"):
            assert action != Action.ERROR or isinstance(msg.get("error", {}).get("code"), int), msg
            terminal = msg


async def exchange(broker: BrokerProcess, fmt: str, data: str | bytes, serial: int,
                   asked_to_end: bool = False) -> None:
    client = await WireClient.open(broker.ws_url, fmt, key=broker.key)
    try:
        await client.connected()
        await client.attach(SENTINEL)
        await client.send_raw(data)
        try:
            await client.send({"action": Action.MESSAGE, "channel": SENTINEL, "msgSerial": serial,
                               "messages": [{"name": "sentinel", "data": "s"}]})
        except ConnectionClosed:
            pass  # the input ended the connection; `answered` checks it said why
        event(f"sentinel {await answered(client, serial, asked_to_end)}")
    finally:
        await client.ws.close()
    await still_serves(broker, fmt)


@FUZZ
@given(frame=protocol_messages(binary=False))
async def test_json_protocol_messages(fuzz_broker: BrokerProcess, frame: dict[str, Any]) -> None:
    data = encode(frame, "json")
    assert data is not None
    await exchange(fuzz_broker, "json", data, sentinel_serial(frame), ends(frame))


@FUZZ
@given(frame=protocol_messages(binary=True))
async def test_msgpack_protocol_messages(fuzz_broker: BrokerProcess, frame: dict[str, Any]) -> None:
    data = encode(frame, "msgpack")
    assume(data is not None)
    assert data is not None
    await exchange(fuzz_broker, "msgpack", data, sentinel_serial(frame), ends(frame))


@FUZZ
@given(fmt=st.sampled_from(["json", "msgpack"]),
       data=st.one_of(st.binary(max_size=200), st.text(max_size=200),
                      st.binary(max_size=60).map(lambda b: b"\x81\xa6action" + b),
                      st.text(max_size=60).map(lambda t: '{"action":15,"msgSerial":0,' + t)))
async def test_raw_frames(fuzz_broker: BrokerProcess, fmt: str, data: str | bytes) -> None:
    await exchange(fuzz_broker, fmt, data, 0)


def _ably_error(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], int) and error["message"], error


@FUZZ
@given(body=rest_bodies, params=query_params, channel=st.sampled_from(["fuzz", "fuzz:rest", "a%20b", "%FF"]))
async def test_rest_requests(fuzz_broker: BrokerProcess, body: Any, params: dict[str, str], channel: str) -> None:
    name, secret = fuzz_broker.key.split(":", 1)
    async with httpx.AsyncClient(base_url=fuzz_broker.http_url, auth=(name, secret), timeout=10) as http:
        content = json.dumps(body).encode()
        _ably_error(await http.post(f"/channels/{channel}/messages", content=content, params=params,
                                    headers={"content-type": "application/json"}))
        _ably_error(await http.get(f"/channels/{channel}/messages", params=params))
        _ably_error(await http.get(f"/channels/{channel}/presence", params=params))
        _ably_error(await http.get(f"/channels/{channel}/presence/history", params=params))
        serial = body.get("serial") if isinstance(body, dict) and isinstance(body.get("serial"), str) else "x"
        _ably_error(await http.get(f"/channels/{channel}/messages/{quote(serial, safe='')}/versions", params=params))
    await still_serves(fuzz_broker)


@FUZZ
@given(head=st.sampled_from([b"", b"GET / HTTP/1.1\r\n", b"POST /channels/fuzz/messages HTTP/1.1\r\nHost: x\r\n",
                             b"GET /?format=json HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"]),
       tail=st.binary(max_size=300))
async def test_raw_http_bytes_do_not_block_others(fuzz_broker: BrokerProcess, head: bytes, tail: bytes) -> None:
    """A socket sending garbage (and maybe never finishing) costs nobody else their service."""
    with socket.create_connection((fuzz_broker.host, fuzz_broker.port), timeout=5) as hostile:
        hostile.sendall(head + tail)
        await still_serves(fuzz_broker)


def test_the_sentinel_serial_follows_a_valid_one() -> None:
    assert sentinel_serial({"msgSerial": 4}) == 5
    assert sentinel_serial({"msgSerial": -1}) == sentinel_serial({"msgSerial": math.inf}) == 0
    assert sentinel_serial({"msgSerial": True}) == 0
