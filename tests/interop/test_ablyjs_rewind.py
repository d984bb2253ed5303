"""Rewind through ably-js: a count, a duration and the channel-name qualifier form."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

BACKLOG = 20
LIVE = 3
CHANNEL = "interop:rewind"
SUBSCRIBERS: list[dict[str, Any]] = [
    {"label": "count", "channelName": CHANNEL, "params": {"rewind": "5"}, "expectBacklog": 5},
    {"label": "duration", "channelName": CHANNEL, "params": {"rewind": "10s"}, "expectBacklog": BACKLOG},
    {"label": "qualifier", "channelName": f"[?rewind=3]{CHANNEL}", "params": None, "expectBacklog": 3},
]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_rewind_backlog_then_live(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("rewind.mjs", {
        **broker_params(broker), "format": fmt, "channel": CHANNEL,
        "backlog": BACKLOG, "live": LIVE, "subscribers": SUBSCRIBERS,
    }, brokers=(broker,))

    old = [f"old-{i}" for i in range(BACKLOG)]
    live = [f"live-{i}" for i in range(LIVE)]
    for sub in SUBSCRIBERS:
        got = result[sub["label"]]
        n = sub["expectBacklog"]
        assert got["received"] == old[BACKLOG - n:] + live, sub["label"]
        assert got["serials"] == sorted(got["serials"]) and len(set(got["serials"])) == len(got["serials"])
        assert got["resumed"] is False, "a first attach is never RESUMED"
        assert got["reason"] is None, f"{sub['label']}: unexpected ATTACHED error {got['reason']}"
