"""A subscriber whose socket dies mid-stream gets every message once, in order, after it reconnects.

The cut is made by a TcpProxy between the subscriber and the broker, so the broker sees an
abrupt socket loss (no DISCONNECT/CLOSE) exactly as with a network failure. The connection
either resumes (same connectionId) or, when the broker does not know the resume key, starts
afresh with an error on CONNECTED; continuity must hold either way, because ably-js re-attaches
with the channelSerial it last saw and the broker replays from there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario
from tests.support.proxy import TcpProxy

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

BATCH = 10


@pytest.mark.parametrize(("fmt", "resume"), [
    ("json", "resumed"), ("msgpack", "resumed"), ("json", "key-unknown"), ("msgpack", "key-unknown"),
])
def test_reconnect_continues_from_channel_serial(broker: BrokerProcess, proxy_factory: Callable[..., TcpProxy],
                                                 fmt: str, resume: str) -> None:
    proxy = proxy_factory(broker.port)
    result = run_scenario("reconnect.mjs", {
        **broker_params(broker), "format": fmt, "channel": "interop:reconnect", "batch": BATCH,
        "proxyPort": proxy.port, "controlUrl": proxy.control_url, "forgetResumeKey": resume == "key-unknown",
    }, brokers=(broker,))

    assert result["received"] == [f"m-{i}" for i in range(3 * BATCH)]
    serials = result["serials"]
    assert serials == sorted(serials) and len(set(serials)) == len(serials)
    assert proxy.accepted >= 2, "the subscriber must have reconnected through the proxy"
    connection_path = [s["to"] for s in result["states"] if s["on"] == "connection"]
    assert "disconnected" in connection_path and connection_path[-1] == "connected", connection_path
    assert result["channelState"] == "attached"
    assert result["idBefore"]
    reattach = [s for s in result["states"] if s["on"] == "interop:reconnect" and s["to"] == "attached"][-1]
    assert reattach["resumed"] is True, "a gap-free channelSerial re-attach must be RESUMED"
    if resume == "resumed":
        assert (result["idAfter"], result["upReason"]) == (result["idBefore"], None)
    else:
        # The broker must say the resume failed rather than pretend connection continuity.
        assert result["idAfter"] != result["idBefore"]
        assert result["upReason"] in (80008, 80018), result["upReason"]
