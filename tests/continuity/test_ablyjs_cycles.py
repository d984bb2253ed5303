"""100 cut/resume cycles during a continuous stream: ably-js loses, duplicates and reorders nothing.

Every client (one publisher, three subscribers) reaches the broker through its own TcpProxy and
is cut 25 times at random moments while the publisher streams. Each cut must end in a resume
(same connectionId, no error), the publisher's in-flight publishes are re-sent and must be
stored once, and every subscriber must end up with exactly the published sequence.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario
from tests.support.proxy import TcpProxy

from .rest import history
from .scenarios import script

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

SUBSCRIBERS = 3
CYCLES_EACH = 25  # per client: 4 clients x 25 = 100 cuts
CHANNEL = "continuity:cycles"


def test_cut_resume_cycles_lose_duplicate_and_reorder_nothing(broker: BrokerProcess,
                                                              proxy_factory: Callable[..., TcpProxy]) -> None:
    proxies = [proxy_factory(broker.port) for _ in range(SUBSCRIBERS + 1)]
    link = [{"port": p.port, "controlUrl": p.control_url} for p in proxies]
    result = run_scenario(script("cycles.mjs"), {
        **broker_params(broker), "format": "msgpack", "channel": CHANNEL, "cyclesEach": CYCLES_EACH,
        "publisherProxy": link[0], "subscriberProxies": link[1:], "window": 20, "intervalMs": 5,
        "pauseMs": [100, 400],
    }, timeout=90, brokers=(broker,))

    published = result["published"]
    expected = [f"m-{i}" for i in range(published)]
    cycles = result["cycles"]
    assert len(cycles) == (SUBSCRIBERS + 1) * CYCLES_EACH
    assert [c for c in cycles if c["idAfter"] != c["idBefore"] or c["upReason"] is not None] == []
    assert all(p.accepted == CYCLES_EACH + 1 for p in proxies), [p.accepted for p in proxies]
    assert result["nacks"] == []
    acks = result["acks"]
    assert len(acks) == published and None not in acks
    assert acks == sorted(acks) and len(set(acks)) == published
    stored = history(broker, CHANNEL)
    assert [m["data"] for m in stored] == expected
    assert [m["serial"] for m in stored] == acks
    print(f"cycles={len(cycles)} published={published} subscribers={SUBSCRIBERS} "
          f"delivered={published * SUBSCRIBERS} lost=0 duplicated=0 reordered=0")  # figures for docs (pytest -rP)
    for sub in result["subscribers"]:
        assert sub["received"] == expected
        assert sub["serials"] == acks
        attaches = [e for e in sub["events"] if e["to"] == "attached"]
        assert [e["resumed"] for e in attaches] == [False] + [True] * CYCLES_EACH, \
            "after every resume the channel re-attaches with RESUMED, never with a discontinuity"
