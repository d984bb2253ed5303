"""Sandbox provisioning over raw HTTP: POST /apps, the apps it makes, DELETE /apps/{id}, POST /stats."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker.auth import Capability
from broker.engine.scope import scope_of
from broker.protocol.actions import Action, Flag
from tests.presence.support import sync_pages
from tests.support.broker import BrokerProcess

from .setup_body import FIXTURE_CHANNEL, SETUP
from .support import App, published

UPDATE = 1


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=tmp_path / "broker.db", extra_args=["--sandbox"]).start()
    yield proc
    proc.stop()


def provision(broker: BrokerProcess, body: Any = SETUP) -> dict[str, Any]:
    resp = httpx.post(f"{broker.http_url}/apps", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def basic(key_str: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(key_str.encode()).decode()}


def test_post_apps_answers_what_the_suites_read(sandbox: BrokerProcess) -> None:
    app = provision(sandbox)
    assert app["appId"] and app["id"] == app["appId"] and app["accountId"]
    assert len(app["keys"]) == len(SETUP["keys"]) and len(app["namespaces"]) == len(SETUP["namespaces"])
    for key, spec in zip(app["keys"], SETUP["keys"]):
        assert key["keyName"] == f"{app['appId']}.{key['id']}" and key["keySecret"] == key["value"]
        assert key["keyStr"] == f"{key['keyName']}:{key['keySecret']}"
        expected = Capability.parse(spec["capability"]) if "capability" in spec else Capability.everything()
        assert Capability.parse(key["capability"]) == expected
    assert app["keys"][4]["revocableTokens"] is True
    assert [c["name"] for c in app["channels"]] == [FIXTURE_CHANNEL]
    # where to route clients, for harnesses given ABLY_LOCAL_SANDBOX_URL
    assert (app["endpoint"], app["port"], app["tls"]) == ("127.0.0.1", sandbox.port, False)


def test_a_provisioned_key_works_with_its_capability(sandbox: BrokerProcess) -> None:
    app = provision(sandbox)
    full, limited = App(sandbox, app["keys"][0]["keyStr"]), App(sandbox, app["keys"][1]["keyStr"])
    assert full.post("/channels/anything/messages", {"data": "x"}).status_code == 201
    assert limited.post("/channels/canpublish:1/messages", {"data": "x"}).status_code == 201
    denied = limited.post("/channels/cansubscribe:1/messages", {"data": "x"})
    assert denied.status_code == 401 and denied.json()["error"]["code"] == 40160
    serial = full.post("/channels/frozen:1/messages", {"data": "x"}).json()["serials"][0]
    frozen = httpx.patch(full.url(f"/channels/frozen:1/messages/{serial}"), headers=full.headers,
                         json={"action": UPDATE, "data": "y"})
    assert frozen.status_code == 400 and frozen.json()["error"]["code"] == 93002  # the app's namespace rule
    # another provisioned app shares nothing with this one
    other = App(sandbox, provision(sandbox)["keys"][0]["keyStr"])
    assert other.history("anything") == [] and [m["data"] for m in full.history("anything")] == ["x"]
    assert other.get(f"/channels/{FIXTURE_CHANNEL}/presence").json() != []  # its own fixtures


async def test_presence_fixtures_are_members_of_the_fixture_channel(sandbox: BrokerProcess) -> None:
    app = App(sandbox, provision(sandbox)["keys"][0]["keyStr"])
    members = app.get(f"/channels/{FIXTURE_CHANNEL}/presence").json()
    expected = {m["clientId"]: (m["data"], m.get("encoding")) for m in SETUP["channels"][0]["presence"]}
    assert {m["clientId"]: (m["data"], m.get("encoding")) for m in members} == expected
    client, _ = await app.connect()
    attached = await client.attach(FIXTURE_CHANNEL)
    assert attached["flags"] & Flag.HAS_PRESENCE
    pages = await sync_pages(client, FIXTURE_CHANNEL)
    assert sorted(m["clientId"] for p in pages for m in p["presence"]) == sorted(expected)
    await client.close()


async def test_delete_app_removes_its_keys_connections_and_data(sandbox: BrokerProcess) -> None:
    made, kept = provision(sandbox), provision(sandbox)
    app, other = App(sandbox, made["keys"][0]["keyStr"]), App(sandbox, kept["keys"][0]["keyStr"])
    client, _ = await app.connect()
    await published(client, "room", "doomed")
    foreign = httpx.delete(f"{sandbox.http_url}/apps/{made['appId']}", headers=other.headers)
    assert foreign.status_code == 401 and foreign.json()["error"]["code"] == 40160
    gone = httpx.delete(f"{sandbox.http_url}/apps/{made['appId']}", headers=app.headers)
    assert gone.status_code == 204
    error = await client.expect(Action.ERROR)
    assert error["error"]["code"] == 40101
    refused = app.get("/channels/room/messages")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 40101
    again = httpx.delete(f"{sandbox.http_url}/apps/{made['appId']}", headers=app.headers)
    assert again.status_code == 401 and again.json()["error"]["code"] == 40101  # the key went with its app
    assert other.get(f"/channels/{FIXTURE_CHANNEL}/presence").json() != []
    sandbox.stop()
    sandbox.start()
    assert app.get("/channels/room/messages").status_code == 401
    with sqlite3.connect(sandbox.db) as db:
        stored = [scope_of(name) for (name,) in db.execute("SELECT channel FROM messages")]
    assert made["appId"] not in stored and kept["appId"] in stored


def test_provisioned_apps_and_their_data_survive_a_restart(sandbox: BrokerProcess) -> None:
    made = provision(sandbox)
    app = App(sandbox, made["keys"][0]["keyStr"])
    limited = App(sandbox, made["keys"][3]["keyStr"])
    app.post("/channels/room/messages", {"data": "kept"})
    sandbox.stop()
    sandbox.start()
    assert [m["data"] for m in app.history("room")] == ["kept"]
    assert limited.post("/channels/room/messages", {"data": "x"}).status_code == 401  # its capability too
    assert len(app.get(f"/channels/{FIXTURE_CHANNEL}/presence").json()) == 6
    assert httpx.delete(f"{sandbox.http_url}/apps/{made['appId']}", headers=app.headers).status_code == 204


def test_post_stats_accepts_fixtures(sandbox: BrokerProcess) -> None:
    key = provision(sandbox)["keys"][0]["keyStr"]
    fixtures = [{"intervalId": "2024-01-01:10:00", "inbound": {"realtime": {"messages": {"count": 50}}}}]
    assert httpx.post(f"{sandbox.http_url}/stats", json=fixtures, headers=basic(key)).status_code == 201
    bad = httpx.post(f"{sandbox.http_url}/stats", json=[1], headers=basic(key))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 40000
    assert httpx.post(f"{sandbox.http_url}/stats", json=fixtures).status_code == 401


@pytest.mark.parametrize("body, fragment", [
    ([], "object"),
    ({"keys": "x"}, "keys"),
    ({"keys": [{"capability": 5}]}, "capability"),
    ({"namespaces": [{}]}, "namespace"),
    ({"channels": [{"name": "c", "presence": [{"data": "no client"}]}]}, "clientId"),
])
def test_a_malformed_setup_is_a_clear_error(sandbox: BrokerProcess, body: Any, fragment: str) -> None:
    resp = httpx.post(f"{sandbox.http_url}/apps", json=body, timeout=10)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 40000
    assert fragment in resp.json()["error"]["message"]
    assert provision(sandbox)["appId"]  # and the sandbox goes on


def test_without_the_flag_there_is_no_provisioning(broker: BrokerProcess) -> None:
    resp = httpx.post(f"{broker.http_url}/apps", json=SETUP, timeout=10)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == 40400
