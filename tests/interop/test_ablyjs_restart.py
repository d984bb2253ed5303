"""History survives a broker restart on the same database, and serials keep sorting after it."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

BEFORE = 30
AFTER = 5
CHANNEL = "interop:restart"


@pytest.mark.parametrize(("fmt", "sig"), [("json", signal.SIGTERM), ("msgpack", signal.SIGKILL)],
                         ids=["json-sigterm", "msgpack-sigkill"])
def test_restart_keeps_history(broker_factory: Callable[..., BrokerProcess], fmt: str, sig: int) -> None:
    first = broker_factory().start()
    before = run_scenario("publish.mjs", {
        **broker_params(first), "format": fmt, "channel": CHANNEL, "count": BEFORE, "prefix": "before",
    }, brokers=(first,))
    first.stop(sig)  # SIGKILL: every ACKed message must already be committed

    second = broker_factory(db=first.db, port=first.port).start()
    after = run_scenario("history_then_live.mjs", {
        **broker_params(second), "format": fmt, "channel": CHANNEL, "live": AFTER, "prefix": "after",
    }, brokers=(second,))  # same log file as `first`: the port names it

    old = [f"before-{i}" for i in range(BEFORE)]
    assert after["history"] == [[d, s] for d, s in zip(old, before["serials"])]
    new = [f"after-{i}" for i in range(AFTER)]
    assert [d for d, _ in after["live"]] == new
    assert [s for _, s in after["live"]] == after["publishSerials"]
    serials = before["serials"] + after["publishSerials"]
    assert serials == sorted(serials) and len(set(serials)) == len(serials)
