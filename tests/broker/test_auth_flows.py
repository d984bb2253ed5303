"""Token auth against a real broker: JWTs at connect, in-band AUTH, expiry, requestToken."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from broker.auth import Capability, create_token_request, issue_token, parse_key_spec
from broker.protocol.actions import Action, Flag
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient


def now_ms() -> int:
    return int(time.time() * 1000)


def token(broker: BrokerProcess, client_id: str | None = "alice", capability: str = '{"*":["*"]}',
          ttl_ms: int = 3_600_000, issued: int | None = None) -> str:
    key = parse_key_spec(broker.key)
    return issue_token(key, client_id, Capability.parse(capability), ttl_ms, issued or now_ms()).token


async def with_token(broker: BrokerProcess, tok: str, **params: str) -> WireClient:
    return await WireClient.open(broker.ws_url, "json", accessToken=tok, **params)


async def test_jwt_connects_with_its_client_id_and_stamps_messages(broker: BrokerProcess) -> None:
    c = await with_token(broker, token(broker))
    connected = await c.connected()
    assert connected["connectionDetails"]["clientId"] == "alice"
    await c.attach("chat")
    await c.ack(await c.publish("chat", [{"data": "hi"}]))
    msg = await c.expect(Action.MESSAGE)
    assert msg["messages"][0]["clientId"] == "alice"
    nack = await c.ack(await c.publish("chat", [{"data": "spoof", "clientId": "mallory"}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40012
    await c.close()


async def test_access_token_snake_case_param(broker: BrokerProcess) -> None:
    c = await WireClient.open(broker.ws_url, "json", access_token=token(broker))
    assert (await c.connected())["connectionDetails"]["clientId"] == "alice"
    await c.close()


async def test_expired_jwt_at_connect_is_a_renewable_error(broker: BrokerProcess) -> None:
    c = await with_token(broker, token(broker, ttl_ms=1000, issued=now_ms() - 10_000))
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40142 and err["error"]["statusCode"] == 401


async def test_client_id_param_must_match_the_token(broker: BrokerProcess) -> None:
    c = await with_token(broker, token(broker), clientId="bob")
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40102


async def test_capability_limits_attach_modes_and_channels(broker: BrokerProcess) -> None:
    c = await with_token(broker, token(broker, capability='{"chat:*":["subscribe"]}'))
    await c.connected()
    attached = await c.attach("chat:1")
    assert attached["flags"] & Flag.SUBSCRIBE and not attached["flags"] & Flag.PUBLISH
    await c.send({"action": Action.ATTACH, "channel": "other"})
    err = await c.expect(Action.ERROR, lambda m: m.get("channel") == "other")
    assert err["error"]["code"] == 40160
    nack = await c.ack(await c.publish("chat:1", [{"data": "x"}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40160
    await c.close()


async def test_inband_auth_swaps_capability_and_keeps_connection(broker: BrokerProcess) -> None:
    c = await with_token(broker, token(broker, capability='{"*":["*"]}'))
    first = await c.connected()
    await c.attach("a:1")
    await c.attach("b:1")
    await c.send({"action": Action.AUTH, "auth": {"accessToken": token(broker, capability='{"a:*":["*"]}')}})
    again = await c.expect(Action.CONNECTED)
    assert again["connectionId"] == first["connectionId"]
    err = await c.expect(Action.ERROR, lambda m: m.get("channel") == "b:1")
    assert err["error"]["code"] == 40160
    nack = await c.ack(await c.publish("b:1", [{"data": "x"}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40160
    ack = await c.ack(await c.publish("a:1", [{"data": "x"}]))
    assert ack["action"] == Action.ACK
    await c.close()


@pytest.mark.parametrize("new_client", ["bob", None])
async def test_inband_auth_cannot_change_client_id(broker: BrokerProcess, new_client: str | None) -> None:
    c = await with_token(broker, token(broker, client_id="alice"))
    await c.connected()
    await c.send({"action": Action.AUTH, "auth": {"accessToken": token(broker, client_id=new_client)}})
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40102 and "channel" not in err


async def test_inband_auth_with_bad_token_is_fatal_not_renewable(broker: BrokerProcess) -> None:
    c = await with_token(broker, token(broker))
    await c.connected()
    await c.send({"action": Action.AUTH, "auth": {"accessToken": token(broker)[:-4] + "AAAA"}})
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40101


async def test_live_token_expiry_asks_for_renewal_then_disconnects(broker: BrokerProcess) -> None:
    c = await with_token(broker, token(broker, ttl_ms=2000))
    await c.connected()
    await c.expect(Action.AUTH, timeout=3)
    disconnected = await c.expect(Action.DISCONNECTED, timeout=3)
    assert disconnected["error"]["code"] == 40142


async def test_renewal_in_time_keeps_the_connection(broker: BrokerProcess) -> None:
    c = await with_token(broker, token(broker, ttl_ms=2000))
    first = await c.connected()
    await c.expect(Action.AUTH, timeout=3)
    await c.send({"action": Action.AUTH, "auth": {"accessToken": token(broker)}})
    assert (await c.expect(Action.CONNECTED))["connectionId"] == first["connectionId"]
    # The first token's expiry passes without a disconnect: the renewed one is in force.
    with pytest.raises(TimeoutError):
        await c.expect(Action.DISCONNECTED, timeout=2.5)
    await c.send({"action": Action.HEARTBEAT, "id": "after-expiry"})
    assert (await c.expect(Action.HEARTBEAT, lambda m: m.get("id") == "after-expiry"))["id"] == "after-expiry"
    await c.close()


def test_request_token_with_signed_token_request(broker: BrokerProcess) -> None:
    key = parse_key_spec(broker.key)
    body = create_token_request(key, now_ms(), ttl_ms=60_000, capability='{"x":["publish"]}', client_id="carol")
    resp = httpx.post(f"{broker.http_url}/keys/{key.name}/requestToken", json=body)
    assert resp.status_code == 200, resp.text
    details = resp.json()
    assert details["keyName"] == key.name and details["clientId"] == "carol"
    assert details["expires"] - details["issued"] == 60_000
    assert Capability.parse(details["capability"]) == Capability.parse('{"x":["publish"]}')
    bearer = {"Authorization": "Bearer " + base64.b64encode(details["token"].encode()).decode()}
    ok = httpx.post(f"{broker.http_url}/channels/x/messages", headers=bearer, json={"data": "hi"})
    assert ok.status_code == 201
    denied = httpx.get(f"{broker.http_url}/channels/x/messages", headers=bearer)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == 40160
    replay = httpx.post(f"{broker.http_url}/keys/{key.name}/requestToken", json=body)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == 40105


def test_request_token_with_bad_mac(broker: BrokerProcess) -> None:
    key = parse_key_spec(broker.key)
    body = create_token_request(key, now_ms(), ttl_ms=60_000)
    body["mac"] = "AAAA" + body["mac"][4:]
    resp = httpx.post(f"{broker.http_url}/keys/{key.name}/requestToken", json=body)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == 40101
    assert resp.headers["x-ably-errorcode"] == "40101"
