"""REST presence: current members with filters and paging, and presence history."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import msgpack
import pytest

from tests.support.broker import BrokerProcess

from .support import ENTER, LEAVE, PRESENT, UPDATE, connect, presence_ok, token

LINK = re.compile(r'<\./(\w+)\?([^>]*)>;\s*rel="(\w+)"')


def basic(broker: BrokerProcess) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}


def links(resp: httpx.Response) -> dict[str, tuple[str, str]]:
    return {rel: (segment, query) for segment, query, rel in LINK.findall(", ".join(resp.headers.get_list("link")))}


async def get(broker: BrokerProcess, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=broker.http_url, timeout=5.0) as http:
        return await http.get(path, headers=headers if headers is not None else basic(broker))


async def pages(broker: BrokerProcess, path: str, query: str) -> list[list[dict[str, Any]]]:
    """Follow `next` links as ably-js does: same path, the link's query."""
    out = []
    while True:
        resp = await get(broker, f"{path}?{query}")
        assert resp.status_code == 200, resp.text
        out.append(resp.json())
        nxt = links(resp).get("next")
        if nxt is None:
            return out
        assert nxt[0] == path.rsplit("/", 1)[1]
        query = nxt[1]
        assert len(out) < 20


async def populate(broker: BrokerProcess, channel: str) -> tuple[list[str], Any]:
    """Two connections: `phone` enters alice and bob, `laptop` enters alice; returns connectionIds."""
    phone, phone_conn = await connect(broker)
    laptop, laptop_conn = await connect(broker)
    for c in (phone, laptop):
        await c.attach(channel)
    await presence_ok(phone, channel, {"action": ENTER, "clientId": "alice", "data": "p"},
                      {"action": ENTER, "clientId": "bob", "data": {"n": 1}})
    await presence_ok(laptop, channel, {"action": ENTER, "clientId": "alice", "data": "l"})
    return [phone_conn["connectionId"], laptop_conn["connectionId"]], (phone, laptop)


async def test_members_with_filters(broker: BrokerProcess) -> None:
    (phone_id, laptop_id), clients = await populate(broker, "rest-room")
    resp = await get(broker, "/channels/rest-room/presence")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    members = resp.json()
    assert sorted((m["clientId"], m["connectionId"]) for m in members) == sorted(
        [("alice", phone_id), ("bob", phone_id), ("alice", laptop_id)])
    assert {m["action"] for m in members} == {PRESENT}
    bob = next(m for m in members if m["clientId"] == "bob")
    assert bob["data"] == '{"n":1}' and bob["encoding"] == "json" and bob["id"] == f"{phone_id}:0:1"
    assert bob["timestamp"] > 0

    alices = (await get(broker, "/channels/rest-room/presence?clientId=alice")).json()
    assert sorted(m["data"] for m in alices) == ["l", "p"]
    on_phone = (await get(broker, f"/channels/rest-room/presence?connectionId={phone_id}")).json()
    assert sorted(m["clientId"] for m in on_phone) == ["alice", "bob"]
    both = (await get(broker, f"/channels/rest-room/presence?clientId=alice&connectionId={laptop_id}")).json()
    assert [(m["clientId"], m["data"]) for m in both] == [("alice", "l")]
    assert (await get(broker, "/channels/empty-room/presence")).json() == []
    for c in clients:
        await c.close()


async def test_members_in_msgpack(broker: BrokerProcess) -> None:
    _, clients = await populate(broker, "mp-room")
    resp = await get(broker, "/channels/mp-room/presence", {**basic(broker), "Accept": "application/x-msgpack"})
    assert resp.headers["content-type"] == "application/x-msgpack"
    assert sorted(m["clientId"] for m in msgpack.unpackb(resp.content)) == ["alice", "alice", "bob"]
    for c in clients:
        await c.close()


async def test_members_are_paged(broker: BrokerProcess) -> None:
    host, _ = await connect(broker)
    await host.attach("crowd")
    await presence_ok(host, "crowd", *[{"action": ENTER, "clientId": f"u{i:02d}"} for i in range(7)])
    got = await pages(broker, "/channels/crowd/presence", "limit=3")
    assert [len(p) for p in got] == [3, 3, 1]
    assert [m["clientId"] for p in got for m in p] == [f"u{i:02d}" for i in range(7)]
    await host.close()


async def test_history_of_presence_events_is_paged_both_ways(broker: BrokerProcess) -> None:
    alice, _ = await connect(broker, "alice")
    await alice.attach("hist")
    await presence_ok(alice, "hist", {"action": ENTER, "data": "1"})
    await presence_ok(alice, "hist", {"action": UPDATE, "data": "2"})
    await presence_ok(alice, "hist", {"action": UPDATE, "data": "3"})
    await presence_ok(alice, "hist", {"action": LEAVE})

    backwards = await pages(broker, "/channels/hist/presence/history", "limit=3")
    assert [[(m["action"], m["data"]) for m in p] for p in backwards] == [
        [(LEAVE, "3"), (UPDATE, "3"), (UPDATE, "2")], [(ENTER, "1")]]
    forwards = await pages(broker, "/channels/hist/presence/history", "direction=forwards&limit=2")
    assert [m["action"] for p in forwards for m in p] == [ENTER, UPDATE, UPDATE, LEAVE]
    assert all(m["clientId"] == "alice" and m["timestamp"] for p in forwards for m in p)
    assert "serial" not in forwards[0][0], "the presence log position is internal"
    await alice.close()


@pytest.mark.parametrize(("path", "capability", "allowed"), [
    ("/channels/secret/presence", '{"secret":["history"]}', False),
    ("/channels/secret/presence", '{"secret":["subscribe"]}', True),
    ("/channels/secret/presence/history", '{"secret":["subscribe"]}', False),
    ("/channels/secret/presence/history", '{"secret":["history"]}', True),
])
async def test_rest_presence_needs_its_capability(broker: BrokerProcess, path: str, capability: str,
                                                  allowed: bool) -> None:
    bearer = base64.b64encode(token(broker, None, capability).encode()).decode()
    resp = await get(broker, path, {"Authorization": f"Bearer {bearer}"})
    if allowed:
        assert resp.status_code == 200 and resp.json() == []
    else:
        assert resp.status_code == 401 and resp.json()["error"]["code"] == 40160
        assert resp.headers["x-ably-errorcode"] == "40160"


async def test_bad_paging_parameters_are_40003(broker: BrokerProcess) -> None:
    for query in ("limit=0", "limit=1001", "limit=x", "cursor=%%%"):
        resp = await get(broker, f"/channels/p/presence?{query}")
        assert (resp.status_code, resp.json()["error"]["code"]) == (400, 40003), query
    resp = await get(broker, "/channels/p/presence/history?direction=sideways")
    assert resp.json()["error"]["code"] == 40003
