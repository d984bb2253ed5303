"""The broker dies under ably-js publish load and restarts on the same port and store.

kill -9: nothing of the shutdown path runs. Every acknowledged message must be in history
exactly once with the serial its ACK carried, serials must keep increasing across the
restart, and the subscriber, resuming by channelSerial, must get every message once, in
order. The publishers give their messages ids, so what the broker stored but never
acknowledged is recognised when ably-js re-sends it after the failed resume.

The worst moment is pinned down by `unacked.mjs`: the publish is stored, its ACK is lost with
the broker, and ably-js re-sends it under a new connection; its id alone keeps it single.

SIGTERM: the broker answers what it read, says DISCONNECTED (80003) and exits 0; nothing is
duplicated even without message ids, because nothing read goes unanswered.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params
from tests.support.proxy import TcpProxy

from .rest import history
from .scenarios import LiveScenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

PUBLISHERS = 3
BEFORE = 300  # ACKs before the broker dies
AFTER = 300  # ACKs after it is back
STOP_TIMEOUT = 15.0


def run(broker_factory: Callable[..., BrokerProcess], channel: str, sig: int, explicit_ids: bool,
        ) -> tuple[dict[str, Any], BrokerProcess, int | None]:
    broker = broker_factory().start()
    live = LiveScenario("restart.mjs", {
        **broker_params(broker), "format": "msgpack", "channel": channel, "publishers": PUBLISHERS,
        "window": 50, "intervalMs": 0, "before": BEFORE, "after": AFTER, "explicitIds": explicit_ids,
    }, timeout=90, brokers=(broker,))
    try:
        live.event("loaded", 40)
        code = broker.stop(sig, timeout=STOP_TIMEOUT)
        restarted = broker_factory(db=broker.db, port=broker.port).start()
        live.brokers = (broker, restarted)
        live.send("restarted")
        return live.result(60), restarted, code
    finally:
        live.stop()


def check_exactly_once(result: dict[str, Any], stored: list[dict[str, Any]]) -> None:
    assert result["nacks"] == []
    published = {f"p{k}-{i}": serial for k, acks in enumerate(result["acks"]) for i, serial in enumerate(acks)}
    assert len(published) == sum(result["sent"]) and None not in published.values(), "every publish acknowledged"
    data = [m["data"] for m in stored]
    assert sorted(data) == sorted(published) and len(set(data)) == len(data), "each message stored once"
    assert {m["data"]: m["serial"] for m in stored} == published, "history serial == the serial its ACK carried"
    serials = [m["serial"] for m in stored]
    assert serials == sorted(serials), "serials keep increasing across the restart"
    for k in range(PUBLISHERS):
        own = [int(d.split("-")[1]) for d in data if d.startswith(f"p{k}-")]
        assert own == sorted(own), f"publisher {k}'s messages stored in its order"
    assert result["received"] == [[m["data"], m["serial"]] for m in stored], "subscriber: all, once, in order"
    after = sum(len(a) for a in result["ackedAfterRestart"])
    print(f"publishers={PUBLISHERS} acked={len(published)} acked_after_restart={after} stored={len(stored)} "
          f"lost=0 duplicated=0")  # figures for docs (pytest -rP)
    attaches = [s for s in result["subStates"] if s["on"] != "connection" and s["to"] == "attached"]
    assert [s["resumed"] for s in attaches] == [False, True], "re-attached from its channelSerial after the restart"


def test_kill_9_under_load_then_restart(broker_factory: Callable[..., BrokerProcess]) -> None:
    result, restarted, _ = run(broker_factory, "continuity:kill", signal.SIGKILL, explicit_ids=True)
    check_exactly_once(result, history(restarted, "continuity:kill"))
    assert sum(len(a) for a in result["ackedAfterRestart"]) >= AFTER


def test_sigterm_under_load_then_restart(broker_factory: Callable[..., BrokerProcess]) -> None:
    result, restarted, code = run(broker_factory, "continuity:term", signal.SIGTERM, explicit_ids=False)
    assert code == 0
    check_exactly_once(result, history(restarted, "continuity:term"))
    for states in [result["subStates"], *result["pubStates"]]:
        drops = [s for s in states if s["on"] == "connection" and s["to"] == "disconnected"]
        assert drops and drops[0]["reason"] == 80003, "told to reconnect (DISCONNECTED 80003), not cut off"


def test_a_publish_stored_but_unacknowledged_at_a_crash_is_stored_once(
        broker_factory: Callable[..., BrokerProcess], proxy_factory: Callable[..., TcpProxy]) -> None:
    broker = broker_factory().start()
    proxy = proxy_factory(broker.port)
    live = LiveScenario("unacked.mjs", {
        **broker_params(broker), "format": "json", "channel": "continuity:unacked", "explicitId": True,
        "proxyPort": proxy.port,
    }, timeout=60, brokers=(broker,))
    try:
        live.event("ready", 20)
        proxy.stall("down")
        live.send("stalled")
        live.event("stored", 20)
        broker.kill()
        proxy.cut()  # the ACK the proxy was holding dies with the link
        proxy.unstall()
        restarted = broker_factory(db=broker.db, port=broker.port).start()
        live.brokers = (broker, restarted)
        live.send("restarted")
        result = live.result(40)
    finally:
        live.stop()

    stored = history(restarted, "continuity:unacked")
    assert [m["data"] for m in stored] == ["m-0", "m-1"]
    assert result["ackSerial"] == stored[0]["serial"], "the re-sent publish is answered with the first copy's serial"
    assert result["afterSerial"] == stored[1]["serial"] > stored[0]["serial"]
    assert result["received"] == [[m["data"], m["serial"]] for m in stored]
    assert result["idAfter"] != result["idBefore"], "the resume failed: the broker lost the connection state"
    reconnect = [s for s in result["pubStates"] if s["to"] == "connected"][-1]
    assert reconnect["reason"] == 80008
