"""Errors as ably-js reports them: invalid channel names (40010) and oversize messages (40009).

ably-js checks message size itself, against the maxMessageSize the broker advertised in
CONNECTED, and rejects before sending. The scenario checks that, then lifts the SDK's limit so
the broker's own rejection (NACK over realtime, HTTP 413 over REST) is what the SDK reports.
"""

from __future__ import annotations

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

OVERSIZE = 70 * 1024


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_sdk_sees_broker_errors(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("errors.mjs", {
        **broker_params(broker), "format": fmt, "channel": "interop:errors",
        "badChannel": ":starts-with-colon", "oversize": OVERSIZE,
    }, brokers=(broker,))

    for key in ("publishBadName", "attachBadName", "restBadName"):
        outcome = result[key]
        assert not outcome["ok"], f"{key}: accepted {outcome}"
        assert (outcome["error"]["code"], outcome["error"]["statusCode"]) == (40010, 400), f"{key}: {outcome}"
    assert result["badChannelState"] == "failed"

    assert result["advertisedMaxMessageSize"] == 65536
    client_side = result["clientSideOversize"]
    assert not client_side["ok"] and client_side["error"]["code"] == 40009
    for key in ("brokerOversize", "restOversize"):
        outcome = result[key]
        assert not outcome["ok"], f"{key}: the broker accepted a {OVERSIZE}-byte message"
        assert (outcome["error"]["code"], outcome["error"]["statusCode"]) == (40009, 413), f"{key}: {outcome}"

    assert result["afterwards"]["ok"], result["afterwards"]
    assert result["connectionState"] == "connected"
    assert result["history"] == {"ok": True, "value": ["ok"]}, "rejected messages must not be stored"
