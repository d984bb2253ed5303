"""Ephemeral messages through ably-js 2.28: live only, never stored (history, rewind)."""

from __future__ import annotations

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_ephemeral_messages_are_live_only(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("ephemeral.mjs", {**broker_params(broker), "format": fmt, "channel": f"eph:{fmt}"},
                          brokers=(broker,))
    live = result["live"]
    assert [m["data"] for m in live] == ["eph-1", "kept-1", "eph-rest", "kept-2"], \
        "subscribers get ephemeral messages in publish order with the stored ones"
    first = live[0]
    assert first["serial"] is None and first["extras"] == {"ephemeral": True}
    assert first["clientId"] == "agent" and first["timestamp"]
    assert all(m["serial"] for m in live if m["data"].startswith("kept"))
    assert result["ackEphemeral"]["serials"] == [None], "acknowledged, with no serial: nothing was stored"
    assert result["ackKept"]["serials"][0]
    assert result["mixed"]["error"]["code"] == 40003, result["mixed"]
    assert result["history"] == ["kept-1", "kept-2"], "no ephemeral message (nor the refused batch) is stored"
    assert result["rewound"] == ["kept-1", "kept-2"], "a rewind replays only stored messages"
