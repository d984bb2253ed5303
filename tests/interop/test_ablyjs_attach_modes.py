"""Attach modes through ably-js 2.28: requested ∩ capability, as Ably grants them.

ably-js sends `ChannelOptions.modes` as ATTACH flags and reads `channel.modes` back from the
ATTACHED flags. Ably "grants only the modes the key or token capability permits and silently
drops the rest on attach" (ably-js's own remediation text); an attach fails (40160) only when
nothing at all is left.
"""

from __future__ import annotations

import pytest

from tests.support.broker import TEST_KEY, BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

PUBSUB_KEY = 'tether.pubsub:pubsubsecretpubsub={"*":["publish","subscribe"]}'
HISTORY_KEY = 'tether.hist:histsecrethistsecret={"*":["history"]}'
ALL_MODES = ["presence", "publish", "subscribe", "presence_subscribe", "annotation_publish", "annotation_subscribe"]


def test_requested_modes_are_cut_to_the_capability(broker_factory: type[BrokerProcess]) -> None:
    broker = broker_factory(keys=[TEST_KEY, PUBSUB_KEY, HISTORY_KEY], engine="memory").start()
    pubsub, history = PUBSUB_KEY.split("={")[0], HISTORY_KEY.split("={")[0]
    cases = [
        {"label": "askAllMayPubSub", "key": pubsub, "modes": ALL_MODES, "probe": "enter"},
        {"label": "defaultMayPubSub", "key": pubsub},
        {"label": "askAllMayAll", "key": TEST_KEY, "modes": ALL_MODES},
        {"label": "defaultMayAll", "key": TEST_KEY},
        {"label": "askSubscribeOnly", "key": TEST_KEY, "modes": ["subscribe"], "probe": "publish"},
        {"label": "askPresenceMaySubscribe", "key": pubsub, "modes": ["presence"]},
        {"label": "mayOnlyReadHistory", "key": history},
    ]
    result = run_scenario("attach_modes.mjs", {**broker_params(broker), "format": "json", "cases": cases},
                          brokers=(broker,))

    over = result["askAllMayPubSub"]
    assert over["attach"]["ok"] and over["state"] == "attached", "asking for more than allowed still attaches"
    assert over["modes"] == ["publish", "subscribe", "presence_subscribe"]
    assert over["probe"]["error"]["code"] == 40160, "presence was not granted, so entering is refused"

    assert result["defaultMayPubSub"]["modes"] == ["publish", "subscribe", "presence_subscribe"]
    assert result["askAllMayAll"]["modes"] == ALL_MODES
    assert result["defaultMayAll"]["modes"] == ["presence", "publish", "subscribe", "presence_subscribe",
                                                "annotation_publish"], \
        "annotation_subscribe is only granted when asked for, as on Ably"

    narrow = result["askSubscribeOnly"]
    assert narrow["modes"] == ["subscribe"]
    assert narrow["probe"]["error"]["code"] == 40160, "attached without publish: the publish is refused"

    for label in ("askPresenceMaySubscribe", "mayOnlyReadHistory"):
        denied = result[label]
        assert not denied["attach"]["ok"] and denied["attach"]["error"]["code"] == 40160, denied
        assert denied["state"] == "failed"
