"""The Python codec against the official @ably/ai-transport 0.8.0 UIMessage codec (run in Node).

The same scenarios are encoded by both; the recorded wire messages must be identical. Then the
same deliveries — live, late-joiner first contact, history aggregates, duplicates — are decoded and
folded by both; decoded events and the resulting UIMessages must be identical.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from client.codec import (
    AitError,
    CodecEvent,
    EncoderOptions,
    ReducerMeta,
    WriteOptions,
    ui_message_codec,
)
from tests.session.jsrun import run_js
from tests.session.scenarios import ENCODE, FULL_REPLY
from tests.session.wire import RecordingWriter, deliveries, inbound


async def encode_py(scenario: dict[str, Any]) -> dict[str, Any]:
    codec = ui_message_codec()
    writer = RecordingWriter(scenario.get("failAppends", ()))
    opts = scenario.get("options", {})
    encoder = codec.create_encoder(writer, EncoderOptions(headers=opts.get("headers"),
                                                          message_id=opts.get("messageId")))
    errors = []
    for step in scenario["ops"]:
        o = step.get("options")
        write = WriteOptions(o.get("headers"), o.get("messageId")) if o else None
        try:
            if step["op"] == "output":
                await encoder.publish_output(copy.deepcopy(step["event"]), write)
            elif step["op"] == "input":
                await encoder.publish_input(copy.deepcopy(step["event"]), write)
            elif step["op"] == "cancel":
                await encoder.cancel_streams()
            elif step["op"] == "close":
                await encoder.close()
        except AitError as exc:
            errors.append({"index": len(errors), "code": exc.code})
    return {"log": writer.log, "errors": errors}


def decode_py(messages: list[dict[str, Any]]) -> dict[str, Any]:
    codec = ui_message_codec()
    decoder = codec.create_decoder()
    projection = codec.init()
    decoded = []
    for m in messages:
        result = decoder.decode(inbound(m))
        decoded.append(copy.deepcopy({"inputs": result.inputs, "outputs": result.outputs}))
        message_id = ((m.get("extras") or {}).get("ai") or {}).get("transport", {}).get("codec-message-id")
        for event in result.events():
            projection = codec.fold(projection, CodecEvent(event.direction, event.event),
                                    ReducerMeta(m.get("serial") or "", message_id))
    return {"decoded": decoded,
            "messages": [{"codecMessageId": c.codec_message_id, "message": c.message}
                         for c in codec.get_messages(projection)]}


def as_json(value: Any) -> Any:
    """Normalise through JSON, as the JS side's output went through JSON.stringify."""
    return json.loads(json.dumps(value))


def late_joiner(live: list[dict[str, Any]], cut: int) -> list[dict[str, Any]]:
    """A subscriber attaching after `cut` deliveries: for each stream still open at the cut, its
    first live delivery is a full-contents update (B9); appends before the cut are never seen."""
    creates = {m["serial"]: m for m in live[:cut] if m["action"] == "message.create"}
    text: dict[str, str] = {}
    for m in live[:cut]:
        if m["action"] == "message.append":
            text[m["serial"]] = text.get(m["serial"], "") + (m.get("data") or "")
    seen: set[str] = set()
    out = []
    for m in live[cut:]:
        serial = m.get("serial", "")
        if m["action"] == "message.append" and serial in creates and serial not in seen:
            seen.add(serial)
            out.append({**m, "action": "message.update", "name": creates[serial]["name"],
                        "data": text.get(serial, "") + (m.get("data") or "")})
        else:
            out.append(m)
    return out


def history_aggregate(live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History: each message once at its position in its latest aggregate form (B10)."""
    latest: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for m in live:
        serial = m["serial"]
        if m["action"] == "message.create":
            latest[serial] = dict(m)
            order.append(serial)
            continue
        base = latest[serial]
        data = (base.get("data") or "") + (m.get("data") or "") if m["action"] == "message.append" else m.get("data")
        latest[serial] = {**base, "action": "message.update", "data": data, "extras": m["extras"],
                          "version": m["version"]}
    return [latest[s] for s in order]


@pytest.fixture(scope="module")
def js_results(py_encoded: list[dict[str, Any]]) -> dict[str, Any]:
    live = deliveries(py_encoded[0]["log"])
    return run_js("codec_golden.mjs", {"encode": ENCODE, "decode": [{"messages": s} for s in
                                                                      decode_sets(py_encoded, live)]})


def decode_sets(encoded: list[dict[str, Any]], live: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    tools = deliveries(encoded[1]["log"])
    cancelled = deliveries(encoded[2]["log"])
    recovered = deliveries(encoded[3]["log"], ENCODE[3]["failAppends"])
    inputs = deliveries(encoded[4]["log"], client_id="alice")
    duplicated = live[:9] + live[3:9] + live[9:]
    foreign = [{"action": "message.append", "serial": live[5]["serial"], "data": "x", "version": {"serial": "s9999"}},
               {"action": "message.append", "serial": "s8888", "data": "y", "version": {"serial": "s9998"}}]
    replaced = live[:8] + [{**live[7], "action": "message.update", "data": "rewritten", "version": {"serial": "s0900"}}]
    deleted = live[:7] + [{"action": "message.delete", "serial": live[5]["serial"], "version": {"serial": "s0901"}}] \
        + live[7:]
    return [live, late_joiner(live, 7), late_joiner(live, 12), history_aggregate(live),
            history_aggregate(live) + live, duplicated, foreign + live, replaced, deleted, tools, cancelled,
            recovered, inputs, history_aggregate(cancelled)]


@pytest.fixture(scope="module")
def py_encoded() -> list[dict[str, Any]]:
    import asyncio
    return [asyncio.run(encode_py(s)) for s in ENCODE]


@pytest.mark.parametrize("index", range(len(ENCODE)))
def test_encoder_matches_js(index: int, py_encoded: list[dict[str, Any]], js_results: dict[str, Any]) -> None:
    assert as_json(py_encoded[index]) == js_results["encode"][index]


def test_decoder_and_reducer_match_js(py_encoded: list[dict[str, Any]], js_results: dict[str, Any]) -> None:
    live = deliveries(py_encoded[0]["log"])
    sets = decode_sets(py_encoded, live)
    assert len(sets) == len(js_results["decode"])
    for index, messages in enumerate(sets):
        assert as_json(decode_py(messages)) == js_results["decode"][index], f"decode set {index}"


def test_full_reply_renders_as_the_vercel_sdk_would(py_encoded: list[dict[str, Any]]) -> None:
    """A readable anchor for the golden data: what the full reply folds to."""
    result = decode_py(deliveries(py_encoded[0]["log"]))
    [message] = result["messages"]
    parts = message["message"]["parts"]
    assert message["codecMessageId"] == "A1"
    assert [p["type"] for p in parts] == ["step-start", "reasoning", "text", "tool-weather", "data-weather",
                                          "file", "source-url", "source-document"]
    assert parts[2]["text"] == "2+2 is 4. ✓"
    assert parts[3] == {"type": "tool-weather", "toolCallId": "c1", "title": "Weather", "state": "output-available",
                        "input": {"city": "Paris"}, "output": {"temp": 21, "sky": None}, "preliminary": False}
    assert parts[4]["data"] == {"temp": 22}
    assert message["message"]["metadata"] == {"tokens": 14}
    assert FULL_REPLY["ops"][0]["event"] == {"type": "start"}
