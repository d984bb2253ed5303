"""ably-js and ably-python share one channel: what one SDK publishes the other reads back intact.

Payload types must survive the broker's transcoding between formats and SDKs: text stays text,
JSON objects come back as objects, binary stays binary, extras pass through untouched.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from ably import AblyRest
from ably.types.message import Message

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

CHANNEL = "interop:cross-sdk"
PAYLOADS: list[tuple[str, Any, dict[str, Any] | None]] = [
    ("text", "plain ✓ text", {"headers": {"k": "v"}}),
    ("object", {"nested": {"list": [1, "two", None]}, "n": 1.5}, None),
    ("array", [1, {"a": "b"}], None),
    ("binary", bytes(range(256)), {"headers": {"bin": "yes"}}),
    ("looks-like-base64", "AAEC", None),
]
FORMAT_PAIRS = [("json", "msgpack"), ("msgpack", "json"), ("msgpack", "msgpack")]


def _describe(data: Any) -> dict[str, Any]:
    """The same typed description the Node scripts use (lib.mjs describeData)."""
    if isinstance(data, (bytes, bytearray)):
        return {"type": "binary", "base64": base64.b64encode(bytes(data)).decode()}
    if isinstance(data, str):
        return {"type": "string", "value": data}
    return {"type": "json", "value": data}


@pytest.mark.parametrize(("py_fmt", "js_fmt"), FORMAT_PAIRS)
async def test_python_publishes_js_reads(broker: BrokerProcess, py_fmt: str, js_fmt: str,
                                         ably_rest_factory: Callable[[BrokerProcess, str], AblyRest]) -> None:
    rest = ably_rest_factory(broker, py_fmt)
    published = await rest.channels.get(CHANNEL).publish([Message(n, d, extras=e) for n, d, e in PAYLOADS])

    result = run_scenario("read_history.mjs", {**broker_params(broker), "format": js_fmt, "channel": CHANNEL},
                          brokers=(broker,))
    got = [(m["name"], m["data"], m["extras"]) for m in result["messages"]]
    assert got == [(n, _describe(d), e) for n, d, e in PAYLOADS]
    assert [m["serial"] for m in result["messages"]] == published.serials


@pytest.mark.parametrize(("js_fmt", "py_fmt"), FORMAT_PAIRS)
async def test_js_publishes_python_reads(broker: BrokerProcess, js_fmt: str, py_fmt: str,
                                         ably_rest_factory: Callable[[BrokerProcess, str], AblyRest]) -> None:
    messages = [{"name": n, "data": _describe(d), "extras": e} for n, d, e in PAYLOADS]
    result = run_scenario("publish_messages.mjs", {
        **broker_params(broker), "format": js_fmt, "channel": CHANNEL, "messages": messages,
    }, brokers=(broker,))

    page = await ably_rest_factory(broker, py_fmt).channels.get(CHANNEL).history(direction="forwards")
    got = [(m.name, bytes(m.data) if isinstance(m.data, (bytes, bytearray)) else m.data, m.extras) for m in page.items]
    assert got == PAYLOADS
    assert [m.serial for m in page.items] == result["serials"]
