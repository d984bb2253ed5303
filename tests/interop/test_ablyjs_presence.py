"""Presence with ably-js: enter/update/leave, SYNC for late attachers (1,000 members), leaves after
a dropped connection's resume window and not before, and refusals with the right codes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from broker.auth import Capability, issue_token, parse_key_spec
from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario
from tests.support.proxy import TcpProxy

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

CROWD = 1000
TTL = 2.0


def by_client(members: list[dict[str, Any]]) -> dict[str, Any]:
    return {m["clientId"]: m["data"]["value"] for m in members}


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_three_clients_then_late_attachers_get_the_full_set(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("presence_members.mjs", {
        **broker_params(broker), "format": fmt, "channel": "interop:presence", "crowdChannel": "interop:crowd",
        "crowd": CROWD,
    }, brokers=(broker,), timeout=60.0)

    ids = result["connectionIds"]
    seen = [(e["action"], e["clientId"]) for e in result["events"]]
    for name in ("c1", "c2", "c3"):
        mine = [action for action, client in seen if client == name]
        assert mine[:2] == ["enter", "update"], f"{name}: {mine}"
    assert [client for action, client in seen if action == "leave"] == ["c3"]
    for event in result["events"]:
        assert event["connectionId"] == ids[event["clientId"]]
        assert event["id"].startswith(f"{event['connectionId']}:") and event["timestamp"]
    enters = {e["clientId"]: e["data"] for e in result["events"] if e["action"] == "enter"}
    assert enters["c2"] == {"type": "json", "value": {"n": 1, "state": "joined"}}

    expected = {"c1": "busy-0", "c2": "busy-1"}
    assert by_client(result["observerView"]) == expected
    assert by_client(result["lateMembers"]) == expected, "a late attacher must get the set from SYNC"
    assert {m["action"] for m in result["lateMembers"]} == {"present"}
    assert result["lateSyncComplete"] is True

    rest_pages = result["restMembers"]
    assert [len(page["items"]) for page in rest_pages] == [1, 1]
    assert by_client([m for page in rest_pages for m in page["items"]]) == expected
    history = [(m["action"], m["clientId"]) for page in result["restHistory"] for m in page["items"]]
    assert len(result["restHistory"]) == 2 and len(history) == 7
    assert sorted(history[:3]) == [("enter", "c1"), ("enter", "c2"), ("enter", "c3")]
    assert history[-1] == ("leave", "c3")

    crowd = result["crowd"]
    assert crowd["count"] == CROWD and crowd["clientIds"] == CROWD and crowd["dataOk"]
    assert crowd["connectionIds"] == [crowd["agentConnectionId"]] and crowd["actions"] == ["present"]


@pytest.mark.parametrize("mode", ["expire", "resume"])
def test_dropped_member_leaves_after_the_resume_window_and_not_before(
        broker_factory: Callable[..., BrokerProcess], proxy_factory: Callable[..., TcpProxy], mode: str) -> None:
    broker = broker_factory(extra_args=["--connection-state-ttl", str(TTL)]).start()
    proxy = proxy_factory(broker.port)
    marker = proxy_factory(broker.port)
    result = run_scenario("presence_drop.mjs", {
        **broker_params(broker), "format": "json", "channel": f"interop:drop-{mode}", "mode": mode,
        "ttlMs": int(TTL * 1000), "proxyPort": proxy.port, "controlUrl": proxy.control_url,
        "markerProxyPort": marker.port, "markerControlUrl": marker.control_url,
    }, brokers=(broker,))

    leaves = [e for e in result["events"] if e["action"] == "leave"]
    assert "dropper" in result["membersAfterCut"], "a dropped member stays while its connection is resumable"
    if mode == "expire":
        assert [e["clientId"] for e in leaves] == ["dropper"]
        waited = (leaves[0]["at"] - result["cutAt"]) / 1000
        assert waited >= TTL - 0.2, f"left {waited:.2f}s after the cut, inside the {TTL}s resume window"
        assert "dropper" not in result["membersAtEnd"]
    else:
        assert result["idAfter"] == result["idBefore"], "the SDK must have resumed its connection"
        assert [e["clientId"] for e in leaves] == ["marker"], leaves
        assert "dropper" in result["membersAtEnd"] and "marker" not in result["membersAtEnd"]


def test_refusals_reach_the_sdk_with_their_codes(broker: BrokerProcess) -> None:
    key = parse_key_spec(broker.key)
    now = time.time_ns() // 1_000_000

    def tok(client_id: str | None, capability: str = '{"*":["*"]}') -> str:
        return issue_token(key, client_id, Capability.parse(capability), 3_600_000, now).token

    result = run_scenario("presence_refusals.mjs", {
        **broker_params(broker), "format": "msgpack", "channel": "interop:refusals",
        "readerToken": tok("reader", '{"interop:refusals":["subscribe","publish"]}'),
        "aliceToken": tok("alice"), "anonToken": tok(None),
    }, brokers=(broker,))

    assert not result["noCapability"]["ok"] and result["noCapability"]["error"]["code"] == 40160
    assert not result["spoof"]["ok"] and result["spoof"]["error"]["code"] == 40012
    assert "mallory" in result["spoof"]["error"]["message"], "the broker, not the SDK, must refuse the spoof"
    assert not result["anonOnBehalf"]["ok"] and result["anonOnBehalf"]["error"]["code"] == 40012
    assert result["own"] == {"ok": True}
    assert result["members"] == ["alice"]
    assert result["states"] == ["connected"] * 3
