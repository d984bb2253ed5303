"""ably-js across long outages: resume past connectionStateTtl, and recover with a recovery key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario
from tests.support.proxy import TcpProxy

from .rest import history
from .scenarios import script

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

BATCH = 5
TTL_SECONDS = 2


def test_past_the_ttl_the_connection_is_new_and_the_channel_resumes_from_its_serial(
        broker_factory: Callable[..., BrokerProcess], proxy_factory: Callable[..., TcpProxy]) -> None:
    broker = broker_factory(extra_args=["--connection-state-ttl", str(TTL_SECONDS)]).start()
    proxy = proxy_factory(broker.port)
    result = run_scenario(script("ttl.mjs"), {
        **broker_params(broker), "format": "json", "channel": "continuity:ttl", "batch": BATCH,
        "proxyPort": proxy.port, "controlUrl": proxy.control_url,
    }, timeout=40, brokers=(broker,))

    assert result["ttl"] == TTL_SECONDS * 1000, "ably-js takes connectionStateTtl from CONNECTED"
    assert result["received"] == [f"m-{i}" for i in range(3 * BATCH)]
    assert result["idAfter"] != result["idBefore"]
    assert result["upReason"] == 80008
    channel = [s for s in result["states"] if s["on"] == "continuity:ttl"]
    assert [s["to"] for s in channel] == ["attaching", "attached", "suspended", "attaching", "attached"]
    assert [s["resumed"] for s in channel if s["to"] == "attached"] == [False, True]
    assert result["channelState"] == "attached"


@pytest.mark.parametrize("forget", [False, True], ids=["recovered", "unknown-key"])
def test_recover_with_a_recovery_key(broker: BrokerProcess, proxy_factory: Callable[..., TcpProxy],
                                     forget: bool) -> None:
    proxy = proxy_factory(broker.port)
    result = run_scenario(script("recover.mjs"), {
        **broker_params(broker), "format": "msgpack", "channel": "continuity:recover", "batch": BATCH,
        "proxyPort": proxy.port, "controlUrl": proxy.control_url, "forget": forget,
    }, brokers=(broker,))

    assert result["recoveryKey"]["msgSerial"] == 3
    missed = [f"m-{i}" for i in range(BATCH, 2 * BATCH)]
    assert result["received"] == missed + ["b-0", "b-1"] + [f"m-{i}" for i in range(2 * BATCH, 3 * BATCH)]
    if forget:
        assert result["idB"] != result["realIdA"] and result["errorB"] == 80008
    else:
        assert result["idB"] == result["realIdA"] == result["idA"] and result["errorB"] is None
    attached = [s for s in result["states"] if s["on"] == "continuity:recover" and s["to"] == "attached"]
    assert [s["resumed"] for s in attached] == [True], "the recovered channelSerial resumes the channel"
    stored = history(broker, "continuity:recover")
    assert [m["data"] for m in stored if m["name"] == "own"] == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    assert result["bAcks"] == [m["serial"] for m in stored if m["data"] in ("b-0", "b-1")]
