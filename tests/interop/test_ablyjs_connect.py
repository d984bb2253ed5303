"""ably-js 2.28 connects to the broker with only host/port/TLS overrides, pings and closes."""

from __future__ import annotations

import re

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_connect_ping_time_close(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("connect.mjs", {**broker_params(broker), "format": fmt}, brokers=(broker,))

    assert result["state"] == "connected"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", result["id"] or ""), result["id"]
    assert result["key"], "connection.key is only set when CONNECTED carries connectionDetails.connectionKey"
    details = result["details"]
    assert details["connectionKey"] == result["key"]
    assert details["maxMessageSize"] == result["maxMessageSize"] == 65536
    assert details["maxIdleInterval"] > 0 and details["connectionStateTtl"] > 0
    assert isinstance(result["pingMs"], (int, float)) and result["pingMs"] >= 0
    assert abs(result["serverTime"] - result["localTime"]) < 60_000
    assert result["finalState"] == "closed"
    path = [s["to"] for s in result["states"] if s["on"] == "connection"]
    assert path == ["connecting", "connected", "closing", "closed"], path
