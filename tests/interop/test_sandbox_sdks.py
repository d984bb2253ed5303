"""The official SDKs on an app made by `POST /apps` (--sandbox) with the suites' setup body."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ably import AblyRealtime

from tests.apps.setup_body import FIXTURE_CHANNEL, SETUP
from tests.support.broker import BrokerProcess
from tests.support.node import run_scenario

pytestmark = pytest.mark.interop

WAIT = 10.0
FIXTURE_CLIENTS = sorted(m["clientId"] for m in SETUP["channels"][0]["presence"])


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=tmp_path / "broker.db", extra_args=["--sandbox"]).start()
    yield proc
    proc.stop()


def provision(broker: BrokerProcess) -> dict[str, Any]:
    resp = httpx.post(f"{broker.http_url}/apps", json=SETUP, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_ably_js_uses_a_provisioned_app(ably_js: None, sandbox: BrokerProcess) -> None:
    app = provision(sandbox)
    result = run_scenario("sandbox.mjs", {"host": sandbox.host, "port": sandbox.port, "format": "json",
                                          "key": app["keys"][0]["keyStr"], "limitedKey": app["keys"][1]["keyStr"],
                                          "fixtureChannel": FIXTURE_CHANNEL}, brokers=(sandbox,))
    assert sorted(result["restFixtures"]) == FIXTURE_CLIENTS
    assert result["decoded"] == {"example": {"json": "Object"}}  # the fixture's json encoding, decoded by the SDK
    assert sorted(result["realtimeFixtures"]) == FIXTURE_CLIENTS
    assert [m["data"]["value"] for m in result["received"]] == ["hello sandbox"]
    assert result["refused"] == {"code": 40160, "statusCode": 401}
    assert result["allowed"] == 1  # one serial: published


async def test_ably_python_uses_a_provisioned_app(sandbox: BrokerProcess) -> None:
    app = provision(sandbox)
    # ably-python's own harness reads the key as appId + "." + id and its secret as value
    key = f"{app['appId']}.{app['keys'][0]['id']}:{app['keys'][0]['value']}"
    client = AblyRealtime(key=key, endpoint=f"{sandbox.host}:{sandbox.port}", tls=False)
    try:
        await asyncio.wait_for(client.connection.once_async("connected"), WAIT)
        fixtures = client.channels.get(FIXTURE_CHANNEL)
        await asyncio.wait_for(fixtures.attach(), WAIT)
        members = await asyncio.wait_for(fixtures.presence.get(), WAIT)
        assert sorted(m.client_id for m in members) == FIXTURE_CLIENTS
        room = client.channels.get("sandbox:py")
        received: asyncio.Queue[Any] = asyncio.Queue()
        await asyncio.wait_for(room.subscribe(received.put_nowait), WAIT)
        await asyncio.wait_for(room.publish("greeting", "hello from python"), WAIT)
        message = await asyncio.wait_for(received.get(), WAIT)
        assert (message.name, message.data) == ("greeting", "hello from python")
    finally:
        await client.close()
