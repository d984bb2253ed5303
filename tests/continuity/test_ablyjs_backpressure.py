"""A slow ably-js consumer among fast ones: it is cut off and catches up; the others never notice."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario
from tests.support.proxy import TcpProxy

from .scenarios import script

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

OUTBOUND_LIMIT = 256 * 1024
COUNT = 600
SIZE = 16 * 1024  # ~10 MB in all: past the limit plus the kernel's own send buffer (up to 4 MB)


def test_a_slow_consumer_is_disconnected_and_resumes_while_fast_ones_get_everything(
        broker_factory: Callable[..., BrokerProcess], proxy_factory: Callable[..., TcpProxy]) -> None:
    broker = broker_factory(extra_args=["--outbound-buffer", str(OUTBOUND_LIMIT)]).start()
    proxy = proxy_factory(broker.port, upstream_rcvbuf=16 * 1024)
    result = run_scenario(script("slow.mjs"), {
        **broker_params(broker), "format": "msgpack", "channel": "continuity:slow", "fast": 3,
        "count": COUNT, "size": SIZE, "window": 4, "proxyPort": proxy.port, "controlUrl": proxy.control_url,
    }, timeout=60, brokers=(broker,))

    expected = [f"m-{i}" for i in range(COUNT)]
    print(f"fast={len(result['fast'])} messages={COUNT}x{SIZE}B fast_ms={result['fastMs']} "
          f"fast_p50/p99/max_ms={[(f['p50'], f['p99'], f['max']) for f in result['fast']]} "
          f"slow_rounds={len([s for s in result['slow']['states'] if s['to'] == 'disconnected'])}")  # for docs (-rP)
    for fast in result["fast"]:
        assert fast["received"] == expected
        assert [s for s in fast["states"] if s["to"] != "connected"] == [], "a fast subscriber was interrupted"
    slow = result["slow"]
    assert slow["received"] == expected, "the slow consumer caught up: every message once, in order"
    drops = [s for s in slow["states"] if s["on"] == "connection" and s["to"] == "disconnected"]
    assert drops and {s["reason"] for s in drops} == {80003}, "cut off by the broker's DISCONNECTED"
    assert slow["idAfter"] == slow["idBefore"], "it resumed its connection"
    attaches = [s for s in slow["states"] if s["on"] == "continuity:slow" and s["to"] == "attached"]
    assert len(drops) == 1, "cut off once while stalled; the catch-up replay follows the socket"
    assert [a["resumed"] for a in attaches] == [False, True]
    log = broker.log()
    assert log.count(f"connection {slow['idBefore']}: outbound buffer over") == 1
    assert log.count("outbound buffer over") == 1, "only the slow consumer was cut off"
