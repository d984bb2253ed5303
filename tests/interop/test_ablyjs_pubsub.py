"""Publish/subscribe between ably-js clients, within one wire format and across the two."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

BINARY = bytes(range(256)) + b"\x00\xff"


def _binary(raw: bytes) -> dict[str, str]:
    return {"type": "binary", "base64": base64.b64encode(raw).decode()}


def _messages(count: int) -> list[dict[str, Any]]:
    """Strings, JSON objects/arrays and binary, with names and extras, cycling."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = i % 4
        data: dict[str, Any]
        if kind == 0:
            data = {"type": "string", "value": f"text-{i} ünïcødé ✓"}
        elif kind == 1:
            data = {"type": "json", "value": {"i": i, "nested": {"list": [1, "two", None]}}}
        elif kind == 2:
            data = _binary(BINARY[i:] + i.to_bytes(2, "big"))
        else:
            data = {"type": "json", "value": [i, {"k": "v"}]}
        extras = {"headers": {"index": str(i), "kind": str(kind)}} if i % 2 == 0 else None
        out.append({"name": f"evt-{i}", "data": data, "extras": extras})
    return out


BATCH: list[dict[str, Any]] = [
    {"name": "batch-0", "data": {"type": "string", "value": "b0"}, "extras": None},
    {"name": "batch-1", "data": _binary(b"\x01\x02\x03"), "extras": {"headers": {"b": "1"}}},
    {"name": "batch-2", "data": {"type": "json", "value": {"b": 2}}, "extras": None},
]


@pytest.mark.parametrize(("format_a", "format_b"), [
    ("json", "json"), ("msgpack", "msgpack"), ("json", "msgpack"), ("msgpack", "json"),
])
def test_two_clients_round_trip(broker: BrokerProcess, format_a: str, format_b: str) -> None:
    sent = _messages(12)
    result = run_scenario("pubsub.mjs", {
        **broker_params(broker), "format": format_a, "formatA": format_a, "formatB": format_b,
        "channel": "interop:pubsub", "messages": sent, "batch": BATCH,
    }, brokers=(broker,))

    expected = sent + BATCH + [{"name": "transient", "data": {"type": "string", "value": "from-c"}, "extras": None},
                               {"name": "marker", "data": {"type": "string", "value": "from-b"}, "extras": None}]
    received = result["receivedByB"]
    assert [(m["name"], m["data"], m["extras"]) for m in received] == \
        [(m["name"], m["data"], m["extras"]) for m in expected]
    assert all(m["encoding"] is None for m in received), "the SDK must have undone every encoding"

    # publish() resolved with the serials the subscriber saw, in the same order.
    results = result["publishResults"]
    assert all(len(r["serials"]) == 1 for r in results[:-1]) and len(results[-1]["serials"]) == 3
    published = [s for r in results for s in r["serials"]]
    published += result["transientResult"]["serials"] + result["markerResult"]["serials"]
    serials = [m["serial"] for m in received]
    assert serials == published
    assert serials == sorted(serials) and len(set(serials)) == len(serials)

    ids = result["connectionIds"]
    for m in received[:len(sent) + len(BATCH)]:
        assert m["connectionId"] == ids["a"]
        assert re.fullmatch(rf"{re.escape(ids['a'])}:\d+:\d+", m["id"]), m["id"]
        assert m["action"] == "message.create" and m["timestamp"] > 0
    batch_ids = [m["id"] for m in received[len(sent):len(sent) + len(BATCH)]]
    assert [i.rsplit(":", 1)[1] for i in batch_ids] == ["0", "1", "2"]
    assert len({i.rsplit(":", 1)[0] for i in batch_ids}) == 1, "one ProtocolMessage, one msgSerial"

    # echoMessages:false — A saw C's and B's messages, none of its own.
    assert [m["name"] for m in result["receivedByA"]] == ["transient", "marker"]
    assert result["transientChannelState"] == "initialized", "C published without attaching"
    assert {"publish", "subscribe"} <= set(result["modesOfB"] or [])
