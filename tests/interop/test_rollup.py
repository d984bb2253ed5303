"""Append rollup with the official SDKs: ably-js subscribers per window, and @ably/ai-transport
rendering the same reply with rollup off and on."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.interop.test_ai_transport import PAUSE_AFTER, TOKENS, _assistant, _channel
from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

WINDOWS = [0, 20, 40, 100, 500]
STREAM = [f"w{i} " for i in range(60)]


def _appends(received: list[dict[str, Any]], serial: str) -> list[dict[str, Any]]:
    return [m for m in received if m["serial"] == serial and m["action"] != "message.create"]


def _check(received: list[dict[str, Any]], serial: str, window: int, closing: str, whole_first: bool) -> None:
    """Joined text exact, versions strictly increasing, rolled up unless the window is 0."""
    appends = _appends(received, serial)
    first, rest = (appends[0], appends[1:]) if whole_first else (None, appends)
    assert all(m["action"] == "message.append" for m in rest)
    versions = [m["version"]["serial"] for m in appends]
    assert versions == sorted(set(versions)), "no append delivered twice or out of order"
    assert versions[-1] == closing and appends[-1]["extras"]["ai"]["transport"]["status"] == "complete"
    text = "".join(m["data"] for m in appends)
    if first is None:
        assert text == "".join(STREAM)
        expected = len(STREAM) + 1
        assert len(appends) == expected if window == 0 else len(appends) < expected
    else:
        assert first["action"] == "message.update" and text == "".join(STREAM)


@pytest.mark.parametrize("window", WINDOWS)
def test_ablyjs_subscribers_get_the_joined_text_for_each_window(broker: BrokerProcess, window: int) -> None:
    chooses = WINDOWS[-1 - WINDOWS.index(window)]  # the chooser's own window: every value once, too
    result = run_scenario("rollup_stream.mjs", {
        **broker_params(broker), "format": "msgpack" if window % 40 else "json",
        "channel": f"ai:rollup-{uuid.uuid4().hex[:8]}", "tokens": STREAM, "gapMs": 2,
        "publisherWindow": window, "subscriberWindow": chooses,
    }, brokers=(broker,))
    serial, closing = result["serial"], result["closingSerial"]
    assert result["attachedParams"] == {"appendRollupWindow": str(chooses)}
    _check(result["follower"], serial, window, closing, whole_first=False)
    _check(result["chooser"], serial, chooses, closing, whole_first=False)
    _check(result["late"], serial, window, closing, whole_first=True)
    assert result["whole"]["data"] == "".join(STREAM), "storage keeps every append"


def _rendered(result: dict[str, Any]) -> dict[str, Any]:
    """What the sessions showed: the partial reply mid-stream and every device's final view."""
    return {
        "errors": result["sessionErrors"],
        "seenByA": _assistant(result["seenByA"]),
        "late": _assistant(result["lateJoin"]),
        "finals": [[(m["role"], m["text"]) for m in f["messages"]] for f in result["finals"]],
        "statuses": [[r["status"] for r in f["runs"]] for f in result["finals"]],
        "liveOnly": [(m["role"], m["text"]) for m in result["liveOnly"]["messages"]],
    }


@pytest.mark.parametrize("window", [40, 500])
def test_ai_transport_renders_the_same_reply_with_rollup_on(broker_factory: Any, window: int) -> None:
    """@ably/ai-transport two-device scenario, run on a broker without and with a default window."""
    rendered = []
    for args in ([], ["--append-rollup-window", str(window)]):
        broker = broker_factory(extra_args=args).start()
        try:
            result = run_scenario("ait_stream.mjs", {
                **broker_params(broker), "format": "json", "channel": _channel(),
                "prompt": "What is 2+2?", "tokens": TOKENS, "pauseAfter": PAUSE_AFTER,
            }, brokers=(broker,))
        finally:
            broker.stop()
        rendered.append(_rendered(result))
    off, on = rendered
    assert off["errors"] == [] and off["finals"] and off["seenByA"] == ["".join(TOKENS[:PAUSE_AFTER])]
    assert on == off
