"""The official SDKs' `request()` for Ably's channel enumeration and `stats()` for app stats."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ably import AblyRest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario
from tests.support.stats import totals
from tests.support.wire import WireClient

pytestmark = pytest.mark.interop

CHANNELS = ["obs:a", "obs:b", "obs:c", "obs:d", "obs:e", "elsewhere"]


@pytest.mark.usefixtures("ably_js")
@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_ablyjs_request_channels_and_stats(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("observe.mjs", {**broker_params(broker), "format": fmt, "channels": CHANNELS,
                                          "prefix": "obs:", "limit": 2, "publish": 4}, brokers=(broker,))
    assert [page["items"] for page in result["pages"]] == [["obs:a", "obs:b"], ["obs:c", "obs:d"], ["obs:e"]]
    assert {page["statusCode"] for page in result["pages"]} == {200}
    [details] = result["details"]
    assert details["channelId"] == "obs:a" and details["status"]["occupancy"]["metrics"]["subscribers"] == 1
    for unit in ("minute", "hour"):
        items = result["stats"][unit]
        assert items and all(s["unit"] == unit and s["appId"] == broker.key.partition(".")[0] for s in items)
        entries = totals([s["entries"] for s in items])
        assert entries["messages.inbound.realtime.messages.count"] == 4
        assert entries["messages.outbound.realtime.messages.count"] == 4  # echoed to the publisher
        assert entries["connections.all.opened"] == 1 and entries["channels.opened"] == len(CHANNELS)
        assert entries["apiRequests.all.succeeded"] >= 3  # the enumeration pages


async def test_ablypython_request_channels_and_stats(
        broker: BrokerProcess, ably_rest_factory: Callable[[BrokerProcess, str], AblyRest]) -> None:
    clients = []
    for name in CHANNELS:
        client = await WireClient.open(broker.ws_url, "json", key=broker.key)
        await client.connected()
        await client.attach(name)
        clients.append(client)
    rest = ably_rest_factory(broker, "json")
    await rest.channels.get("obs:a").publish("n", "from python")

    page = await rest.request("GET", "/channels", "3", params={"prefix": "obs:", "limit": 3, "by": "id"})
    pages = [page.items]
    while page.has_next():
        page = await page.next()
        pages.append(page.items)
    assert pages == [["obs:a", "obs:b", "obs:c"], ["obs:d", "obs:e"]]
    listed = await rest.request("GET", "/channels", "3", params={"prefix": "else"})
    assert [d["channelId"] for d in listed.items] == ["elsewhere"]

    stats = await rest.stats(unit="minute", limit=100)
    assert stats.items and all(s.unit == "minute" and s.interval_time is not None for s in stats.items)
    entries = totals([s.entries for s in stats.items])
    assert entries["messages.inbound.rest.messages.count"] == 1
    assert entries["messages.outbound.realtime.messages.count"] == 1  # to the one subscriber of obs:a
    assert entries["connections.all.peak"] == len(CHANNELS)
    for client in clients:
        await client.close()
