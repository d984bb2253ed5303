"""@ably/ai-transport 0.8.0 end to end on the broker: an SDK agent streams, SDK client sessions render.

The scenarios (js/ait_*.mjs) run the agent side and several client sessions, each on its own
ably-js connection, in one Node process; the agent is invoked in-process with the body a
client would POST to its endpoint. The model is a deterministic fake OpenAI Responses stream
encoded by the SDK's shipped OpenAI codec.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

TOKENS = ["The", " answer", " to", " 2+2", " is", " 4", ",", " as", " ever", "."]
PAUSE_AFTER = 4


def _channel() -> str:
    return f"ait:{uuid.uuid4()}"


def _assistant(view: dict[str, Any]) -> list[str]:
    return [m["text"] for m in view["messages"] if m["role"] == "assistant"]


def _streamed(wire: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in wire if m["name"] == "ai-output" and (m["transport"] or {}).get("stream") == "true"]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_reply_streams_to_every_session_including_mid_stream_joiners(broker: BrokerProcess, fmt: str) -> None:
    prompt = "What is 2+2?"
    result = run_scenario("ait_stream.mjs", {
        **broker_params(broker), "format": fmt, "channel": _channel(),
        "prompt": prompt, "tokens": TOKENS, "pauseAfter": PAUSE_AFTER,
    }, brokers=(broker,))
    full, partial = "".join(TOKENS), "".join(TOKENS[:PAUSE_AFTER])
    assert result["sessionErrors"] == []
    served = result["served"]
    assert served["pipeReason"] == "complete" and served["emitted"] == TOKENS
    assert [(m["role"], m["text"]) for m in served["context"]] == [("user", prompt)], "the agent read the prompt"

    # alice's sending session saw the reply in progress, then every session the whole reply.
    assert _assistant(result["seenByA"]) == [partial]
    late = result["lateJoin"]
    assert late["revealed"] == 2 and _assistant(late) == [partial]
    assert [r["status"] for r in late["runs"]] == ["active"], "the late joiner saw the run still streaming"
    for final in result["finals"]:
        assert [(m["role"], m["text"]) for m in final["messages"]] == [("user", prompt), ("assistant", full)]
        assert final["runs"] == [{"runId": result["runId"], "status": "complete", "clientId": "alice"}]

    # carol never read history: her only copy of the reply is the live subscription, whose first
    # delivery of it had to carry everything streamed before she attached.
    only_live = result["liveOnly"]
    assert only_live["status"] == "complete"
    assert [(m["role"], m["text"]) for m in only_live["messages"]] == [("assistant", full)]
    assert result["liveOnlyView"]["messages"] == [], "a view hides a reply whose prompt it never loaded"

    streamed = _streamed(result["wire"])
    assert len(streamed) == 1, "history holds the streamed reply once, at its original position"
    reply = streamed[0]
    assert (reply["action"], reply["data"], reply["transport"]["status"]) == ("message.update", full, "complete")
    assert reply["versionSerial"] > reply["serial"]
    names = [m["name"] for m in result["wire"]]
    assert names[:3] == ["ai-input", "ai-run-start", "ai-step-start"]
    assert names[-2:] == ["ai-step-end", "ai-run-end"]
    assert result["wire"][-1]["transport"]["run-reason"] == "complete"


def test_cancel_from_a_second_device_stops_the_run(broker: BrokerProcess) -> None:
    result = run_scenario("ait_cancel.mjs", {
        **broker_params(broker), "format": "json", "channel": _channel(),
        "prompt": "Tell me a long story", "tokens": TOKENS, "pauseAfter": PAUSE_AFTER,
    }, brokers=(broker,))
    partial = "".join(TOKENS[:PAUSE_AFTER])
    assert result["sessionErrors"] == []
    assert result["cancelledRunId"] == result["runId"]
    assert _assistant(result["seenBeforeCancel"]) == [partial]
    served = result["served"]
    assert served["pipeReason"] == "cancelled"
    assert served["emitted"] == TOKENS[:PAUSE_AFTER], "no token may be produced after the cancel"
    for final in result["finals"]:
        assert _assistant(final) == [partial]
        assert [(r["runId"], r["status"]) for r in final["runs"]] == [(result["runId"], "cancelled")]

    wire = result["wire"]
    cancels = [m for m in wire if m["name"] == "ai-cancel"]
    assert [c["transport"]["run-id"] for c in cancels] == [result["runId"]]
    reply = _streamed(wire)[0]
    assert (reply["data"], reply["transport"]["status"]) == (partial, "cancelled")
    assert wire[-1]["name"] == "ai-run-end" and wire[-1]["transport"]["run-reason"] == "cancelled"
    assert cancels[0]["serial"] < reply["versionSerial"] < wire[-1]["serial"]


def test_regenerate_creates_a_sibling_branch_every_session_sees(broker: BrokerProcess) -> None:
    first, second = ["Re", "d"], ["Bl", "ue", "!"]
    prompt = "Name a colour"
    result = run_scenario("ait_regenerate.mjs", {
        **broker_params(broker), "format": "json", "channel": _channel(),
        "prompt": prompt, "firstTokens": first, "secondTokens": second,
    }, brokers=(broker,))
    assert result["sessionErrors"] == []
    assert result["regenRunId"] and result["regenRunId"] != result["firstRunId"]
    assert [m["text"] for m in result["secondServed"]["context"]] == [prompt], \
        "the regenerating agent's context stops before the reply it replaces"
    for session in result["results"]:
        assert [(m["role"], m["text"]) for m in session["after"]["messages"]] == [("user", prompt),
                                                                                  ("assistant", "Blue!")]
        assert session["after"]["runs"][0]["runId"] == result["regenRunId"]
        assert session["hasSiblings"] and session["siblings"] == ["Red", "Blue!"] and session["index"] == 1
        assert _assistant(session["switched"]) == ["Red"]
        assert session["switched"]["runs"][0]["runId"] == result["firstRunId"]
    late = result["late"]
    assert _assistant(late["view"]) == ["Blue!"] and late["siblings"] == ["Red", "Blue!"] and late["index"] == 1
