"""Idempotent publishing with ably-js over REST and realtime: a repeated id is stored once."""

from __future__ import annotations

import re

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

from .rest import history
from .scenarios import script

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_a_repeated_message_id_is_stored_once_and_answered_with_its_first_serials(broker: BrokerProcess,
                                                                                   fmt: str) -> None:
    channel = f"continuity:idempotent-{fmt}"
    result = run_scenario(script("idempotent.mjs"), {**broker_params(broker), "format": fmt, "channel": channel},
                          brokers=(broker,))

    assert result["retry"] == result["first"]
    assert result["overlap"][0] == result["first"][1] and result["overlap"][1] > result["first"][1]
    assert result["rtRepeat"] == result["rtFirst"]
    stored = history(broker, channel)
    assert [m["data"] for m in stored] == ["generated-id", "r-0", "r-1", "r-2", "x", "end"]
    assert re.fullmatch(r"[A-Za-z0-9+/=_-]{8,}:0", stored[0]["id"]), "ably-js's own <base>:<index> REST id is kept"
    assert [m["serial"] for m in stored] == (result["auto"] + result["first"] + result["overlap"][1:]
                                             + result["rtFirst"] + result["marker"])
    assert result["received"] == [[m["data"], m["id"], m["serial"]] for m in stored]
