"""Adversarial end-to-end suite: every attack on a real broker fails closed with its exact code.

Raw protocol (WireClient) and raw HTTP (httpx), so nothing an SDK does can soften or hide an
answer. Tokens are forged by hand (tests/auth/forge.py), not with broker code, so a bug in the
broker's signer cannot make a forged token look right. One broker serves the module, with two
keys: the all-powerful root key and a `narrow` key limited to chat:* channels; the memory
engine is used because nothing here depends on storage (each test uses its own channels).

Codes (see docs/security.md): a token the broker cannot accept at connect or over REST is
40144 (40142 if merely expired) — renewable codes, so an SDK with a token source retries with
a new token; the same token offered in an in-band AUTH is 40101 (fatal), so a client cannot
loop. Identity violations are 40012 (per message) and 40102 (per connection); capability
violations 40160; TokenRequest replay and staleness 40105 and 40104.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from broker.auth import create_token_request, parse_key_spec
from broker.protocol.actions import Action, Flag, PresenceAction
from tests.auth.forge import b64url, forge
from tests.support.broker import TEST_KEY, BrokerProcess
from tests.support.wire import TIMEOUT, WireClient

ROOT = parse_key_spec(TEST_KEY)
NARROW_SPEC = 'tether.narrow:narrowsecretnarrowsecret={"chat:*":["history","presence","publish","subscribe"]}'
NARROW = parse_key_spec(NARROW_SPEC)
CHAT_ONLY = '{"chat:*":["*"]}'


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=tmp_path_factory.mktemp("adversarial") / "broker.db", engine="memory",
                         keys=[TEST_KEY, NARROW_SPEC]).start()
    yield proc
    proc.stop()


# -- credentials --------------------------------------------------------------------------


def now_s() -> int:
    return int(time.time())


def claims(client_id: str | None = "alice", capability: str = CHAT_ONLY, ttl_s: int = 3600,
           **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"iat": now_s(), "exp": now_s() + ttl_s, "x-ably-capability": capability}
    if client_id is not None:
        body["x-ably-clientId"] = client_id
    body.update(extra)
    return body


def header(kid: str = ROOT.name, alg: str = "HS256") -> dict[str, Any]:
    return {"typ": "JWT", "alg": alg, "kid": kid}


def jwt(client_id: str | None = "alice", capability: str = CHAT_ONLY, key: Any = ROOT, **extra: Any) -> str:
    """A genuine token, signed by hand with the key's secret."""
    return forge(header(key.name), claims(client_id, capability, **extra), key.secret)


def tampered_payload() -> str:
    head, _, sig = jwt().split(".")
    escalated = claims("admin", '{"*":["*"]}')
    return f"{head}.{b64url(json.dumps(escalated).encode())}.{sig}"


def relabelled_kid() -> str:
    """Signed with the narrow key's secret but claiming, through `kid`, to be the root key's."""
    return forge(header(ROOT.name), claims(capability='{"*":["*"]}'), NARROW.secret)


def oversized() -> str:
    """Correctly signed, but over the 128 KiB token limit."""
    return forge(header(), claims(padding="x" * (130 * 1024)), ROOT.secret)


# name -> (token maker, code at connect and over REST); in an in-band AUTH every one is 40101.
ATTACKS: dict[str, tuple[Callable[[], str], int]] = {
    "wrong_secret": (lambda: forge(header(), claims(), "guessed-secret"), 40144),
    "tampered_payload": (tampered_payload, 40144),
    "tampered_kid": (relabelled_kid, 40144),
    "unknown_kid": (lambda: forge(header("tether.ghost"), claims(), ROOT.secret), 40144),
    "alg_none": (lambda: forge(header(alg="none"), claims(), None), 40144),
    "alg_none_with_signature": (lambda: forge(header(alg="none"), claims(), ROOT.secret), 40144),
    "alg_HS384": (lambda: forge(header(alg="HS384"), claims(), ROOT.secret, hashlib.sha384), 40144),
    "alg_HS512": (lambda: forge(header(alg="HS512"), claims(), ROOT.secret, hashlib.sha512), 40144),
    "alg_RS256_hmac_confusion": (lambda: forge(header(alg="RS256"), claims(), ROOT.secret), 40144),
    "alg_ES256_hmac_confusion": (lambda: forge(header(alg="ES256"), claims(), ROOT.secret), 40144),
    "expired": (lambda: forge(header(), claims(iat=now_s() - 7200, exp=now_s() - 3600), ROOT.secret), 40142),
    "nbf_in_future": (lambda: forge(header(), claims(nbf=now_s() + 3600), ROOT.secret), 40144),
    "exp_infinity": (lambda: forge(header(), claims(exp=float("inf")), ROOT.secret), 40144),
    "no_exp": (lambda: forge(header(), {k: v for k, v in claims().items() if k != "exp"}, ROOT.secret), 40144),
    "malformed_capability": (lambda: forge(header(), claims(capability="{not json"), ROOT.secret), 40144),
    "not_a_jwt": (lambda: "not.a.jwt", 40144),
}


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    """As both SDKs send it: base64 of the token."""
    return {"Authorization": "Bearer " + base64.b64encode(token.encode()).decode()}


def error_code(resp: httpx.Response) -> tuple[int, int]:
    body = resp.json()
    assert resp.headers["x-ably-errorcode"] == str(body["error"]["code"])
    assert body["error"]["statusCode"] == resp.status_code
    return resp.status_code, body["error"]["code"]


async def http(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request from an async test, without blocking the event loop."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        return await client.request(method, url, **kwargs)


async def stored(broker: BrokerProcess, channel: str) -> list[Any]:
    """What the channel holds, read with the root key: refused publishes must not be in it."""
    resp = await http("GET", f"{broker.http_url}/channels/{channel}/messages", headers=basic(TEST_KEY))
    assert resp.status_code == 200, resp.text
    return [m.get("data") for m in resp.json()]


async def refused_at_connect(broker: BrokerProcess, **params: str) -> dict[str, Any]:
    """The connection-level ERROR a refused connect gets; the socket must then close."""
    c = await WireClient.open(broker.ws_url, "json", **params)
    first = await c.recv()
    assert first["action"] == Action.ERROR and "channel" not in first, f"expected a refusal, got {first}"
    await assert_closed(c)
    return first["error"]


async def assert_closed(c: WireClient) -> None:
    with pytest.raises(ConnectionClosed):
        while True:
            extra = await c.recv()
            assert extra["action"] not in (Action.CONNECTED, Action.ACK, Action.MESSAGE), extra


async def connect(broker: BrokerProcess, **params: str) -> tuple[WireClient, dict[str, Any]]:
    c = await WireClient.open(broker.ws_url, "json", **params)
    return c, await c.connected()


# -- forged, tampered, expired and confused tokens -------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS)
async def test_bad_token_at_connect(target: BrokerProcess, attack: str) -> None:
    make, code = ATTACKS[attack]
    for param in ("accessToken", "access_token"):  # ably-python's and ably-js's spelling
        error = await refused_at_connect(target, **{param: make()})
        assert (error["code"], error["statusCode"]) == (code, 401)


@pytest.mark.parametrize("attack", ATTACKS)
async def test_bad_token_over_rest(target: BrokerProcess, attack: str) -> None:
    make, code = ATTACKS[attack]
    token = make()
    channel = f"chat:rest-{attack}"
    for auth in (bearer(token), {"Authorization": f"Bearer {token}"}):
        resp = await http("POST", f"{target.http_url}/channels/{channel}/messages", headers=auth, json={"data": "forged"})
        assert error_code(resp) == (401, code)
        resp = await http("GET", f"{target.http_url}/channels/{channel}/messages", headers=auth)
        assert error_code(resp) == (401, code)
    assert await stored(target, channel) == []


@pytest.mark.parametrize("attack", [*ATTACKS, "oversized"])
async def test_bad_token_in_band_auth_is_fatal(target: BrokerProcess, attack: str) -> None:
    token = oversized() if attack == "oversized" else ATTACKS[attack][0]()
    c, _ = await connect(target, accessToken=jwt())
    await c.attach("chat:inband")
    await c.send({"action": Action.AUTH, "auth": {"accessToken": token}})
    err = await c.expect(Action.ERROR)
    assert "channel" not in err
    assert (err["error"]["code"], err["error"]["statusCode"]) == (40101, 401), \
        "a token error here would make the SDK fetch another token and loop"
    await assert_closed(c)


async def test_refused_reauth_discards_the_connection(target: BrokerProcess) -> None:
    """After a refused AUTH the old connection cannot be resumed into, even with a good token."""
    c, first = await connect(target, accessToken=jwt())
    await c.send({"action": Action.AUTH, "auth": {"accessToken": ATTACKS["wrong_secret"][0]()}})
    await c.expect(Action.ERROR)
    await assert_closed(c)
    again, connected = await connect(target, accessToken=jwt(), resume=first["connectionDetails"]["connectionKey"])
    assert connected["connectionId"] != first["connectionId"]
    assert connected["error"]["code"] == 80008
    await again.close()


async def test_oversized_token_in_the_connect_url_is_refused(target: BrokerProcess) -> None:
    """Over Ably's 128 KiB token limit: the upgrade succeeds and auth refuses the token."""
    error = await refused_at_connect(target, accessToken=oversized())
    assert (error["code"], error["statusCode"]) == (40144, 401)


async def test_large_valid_token_connects(target: BrokerProcess) -> None:
    token = jwt(padding="x" * (16 * 1024))
    c, connected = await connect(target, accessToken=token)
    assert connected["connectionDetails"]["clientId"] == "alice"
    await c.close()


# -- TokenRequests: replay, staleness, tampering, escalation ----------------------------------


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def request_token(broker: BrokerProcess, body: dict[str, Any], key_name: str | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
    name = key_name or body.get("keyName")
    return httpx.post(f"{broker.http_url}/keys/{name}/requestToken", json=body, headers=headers or {})


def test_replayed_token_request_nonce(target: BrokerProcess) -> None:
    body = create_token_request(ROOT, now_ms(), ttl_ms=60_000, client_id="alice")
    assert request_token(target, body).status_code == 200
    assert error_code(request_token(target, body)) == (401, 40105)


@pytest.mark.parametrize("skew_ms", [-5 * 60_000, 5 * 60_000], ids=["stale", "future"])
def test_token_request_timestamp_outside_the_window(target: BrokerProcess, skew_ms: int) -> None:
    body = create_token_request(ROOT, now_ms() + skew_ms, ttl_ms=60_000)
    assert error_code(request_token(target, body)) == (401, 40104)


@pytest.mark.parametrize(("field", "value"), [
    ("ttl", 86_400_000), ("capability", '{"*":["*"]}'), ("clientId", "admin"),
    ("nonce", "0000000000000000"), ("timestamp", None),
], ids=["ttl", "capability", "clientId", "nonce", "timestamp"])
def test_tampered_token_request(target: BrokerProcess, field: str, value: Any) -> None:
    body = create_token_request(NARROW, now_ms(), ttl_ms=60_000, capability='{"chat:1":["subscribe"]}',
                                client_id="alice")
    body[field] = value if value is not None else body["timestamp"] + 1
    assert error_code(request_token(target, body)) == (401, 40101)


def test_token_request_signed_with_another_secret(target: BrokerProcess) -> None:
    body = create_token_request(parse_key_spec(f"{ROOT.name}:guessed-secret"), now_ms(), ttl_ms=60_000)
    assert error_code(request_token(target, body)) == (401, 40101)


def test_token_request_capability_is_held_to_the_key(target: BrokerProcess) -> None:
    wider = request_token(target, create_token_request(NARROW, now_ms(), capability='{"*":["*"]}'))
    assert wider.status_code == 200, wider.text
    assert json.loads(wider.json()["capability"]) == json.loads(NARROW.capability.to_json()), \
        "a request wider than its key is narrowed to the key"
    token = wider.json()["token"]
    resp = httpx.get(f"{target.http_url}/channels/secret:1/messages", headers=bearer(token))
    assert error_code(resp) == (401, 40160)
    disjoint = request_token(target, create_token_request(NARROW, now_ms(), capability='{"admin:*":["*"]}'))
    assert error_code(disjoint) == (401, 40160)


def test_unsigned_token_request_needs_basic_auth_with_that_key(target: BrokerProcess) -> None:
    body = {"keyName": ROOT.name, "ttl": 60_000, "capability": '{"*":["*"]}'}
    assert error_code(request_token(target, body)) == (401, 40101)
    assert error_code(request_token(target, body, headers=basic(NARROW.key_string))) == (401, 40101)
    assert error_code(request_token(target, body, headers=bearer(jwt(capability='{"*":["*"]}')))) == (401, 40101)
    assert request_token(target, body, headers=basic(ROOT.key_string)).status_code == 200


def test_token_request_key_name_must_match_the_path(target: BrokerProcess) -> None:
    body = create_token_request(NARROW, now_ms(), ttl_ms=60_000)
    assert error_code(request_token(target, body, key_name=ROOT.name)) == (401, 40101)
    assert error_code(request_token(target, {**body, "keyName": "tether.ghost"}, key_name="tether.ghost")) == (404, 40400)


# -- clientId spoofing ------------------------------------------------------------------------


@pytest.mark.parametrize(("credential", "claimed"), [
    ("alice_token", "mallory"), ("alice_token", "*"), ("anonymous_token", "alice"), ("key_as_carol", "dave"),
])
async def test_client_id_spoofing_per_message(target: BrokerProcess, credential: str, claimed: str) -> None:
    params = {"alice_token": {"accessToken": jwt("alice")},
              "anonymous_token": {"accessToken": jwt(None)},
              "key_as_carol": {"key": TEST_KEY, "clientId": "carol"}}[credential]
    channel = f"chat:spoof-{credential}-{claimed.strip('*') or 'star'}"
    c, _ = await connect(target, **params)
    nack = await c.ack(await c.publish(channel, [{"data": "spoofed", "clientId": claimed}]))
    assert nack["action"] == Action.NACK and (nack["error"]["code"], nack["error"]["statusCode"]) == (40012, 400)
    ack = await c.ack(await c.publish(channel, [{"data": "honest"}]))
    assert ack["action"] == Action.ACK
    await c.close()
    resp = await http("GET", f"{target.http_url}/channels/{channel}/messages", headers=basic(TEST_KEY))
    expected_id = {"alice_token": "alice", "anonymous_token": None, "key_as_carol": "carol"}[credential]
    assert [(m.get("data"), m.get("clientId")) for m in resp.json()] == [("honest", expected_id)]


def test_client_id_spoofing_over_rest(target: BrokerProcess) -> None:
    url = f"{target.http_url}/channels/chat:spoof-rest/messages"
    spoof = httpx.post(url, headers=bearer(jwt("alice")), json={"data": "spoofed", "clientId": "mallory"})
    assert error_code(spoof) == (400, 40012)
    header_spoof = httpx.post(url, headers={**bearer(jwt("alice")),
                                            "X-Ably-ClientId": base64.b64encode(b"mallory").decode()},
                              json={"data": "spoofed"})
    assert error_code(header_spoof) == (401, 40102)
    anonymous = httpx.post(url, headers=bearer(jwt(None)), json={"data": "spoofed", "clientId": "alice"})
    assert error_code(anonymous) == (400, 40012)
    honest = httpx.post(url, headers=bearer(jwt("alice")), json={"data": "honest"})
    assert honest.status_code == 201
    resp = httpx.get(url, headers=basic(TEST_KEY))
    assert [(m.get("data"), m.get("clientId")) for m in resp.json()] == [("honest", "alice")]


@pytest.mark.parametrize(("token_client", "claimed", "code"), [
    ("alice", "bob", 40102), (None, "bob", 40102), ("alice", "*", 40012),
], ids=["alice_token_as_bob", "anonymous_token_as_bob", "as_wildcard"])
async def test_connecting_as_someone_else(target: BrokerProcess, token_client: str | None, claimed: str,
                                          code: int) -> None:
    error = await refused_at_connect(target, accessToken=jwt(token_client), clientId=claimed)
    assert error["code"] == code


async def enter(c: WireClient, channel: str, client_id: str | None) -> dict[str, Any]:
    """Send a presence ENTER (as `client_id`, or as the connection when None); the ACK or NACK."""
    item: dict[str, Any] = {"action": int(PresenceAction.ENTER), "data": "here"}
    if client_id is not None:
        item["clientId"] = client_id
    serial = c.msg_serial
    c.msg_serial += 1
    await c.send({"action": Action.PRESENCE, "channel": channel, "msgSerial": serial, "presence": [item]})
    return await c.ack(serial)


@pytest.mark.parametrize(("credential", "claimed", "code"), [
    ("alice_token", "mallory", 40012), ("anonymous_token", "alice", 40012), ("anonymous_token", None, 91000),
])
async def test_client_id_spoofing_per_presence(target: BrokerProcess, credential: str, claimed: str | None,
                                               code: int) -> None:
    token = jwt("alice") if credential == "alice_token" else jwt(None)
    c, _ = await connect(target, accessToken=token)
    channel = f"chat:presence-{credential}-{claimed}"
    await c.attach(channel)
    reply = await enter(c, channel, claimed)
    assert reply["action"] == Action.NACK and reply["error"]["code"] == code
    if credential == "alice_token":
        honest = await enter(c, channel, None)
        assert honest["action"] == Action.ACK, honest
    members = (await http("GET", f"{target.http_url}/channels/{channel}/presence", headers=basic(TEST_KEY))).json()
    assert [m["clientId"] for m in members] == ([] if credential == "anonymous_token" else ["alice"])
    await c.close()


async def test_presence_needs_the_presence_capability(target: BrokerProcess) -> None:
    c, _ = await connect(target, accessToken=jwt(capability='{"chat:*":["publish","subscribe"]}'))
    channel = "chat:presence-capability"
    attached = await c.attach(channel)
    assert not attached["flags"] & Flag.PRESENCE
    reply = await enter(c, channel, None)
    assert reply["action"] == Action.NACK and reply["error"]["code"] == 40160
    await c.close()


# -- capability escalation ----------------------------------------------------------------------


async def test_jwt_wider_than_its_key_is_narrowed(target: BrokerProcess) -> None:
    c, _ = await connect(target, accessToken=jwt(capability='{"*":["*"]}', key=NARROW))
    attached = await c.attach("chat:wide")
    assert attached["flags"] & Flag.PUBLISH
    await c.send({"action": Action.ATTACH, "channel": "secret:wide"})
    err = await c.expect(Action.ERROR, lambda m: m.get("channel") == "secret:wide")
    assert err["error"]["code"] == 40160
    nack = await c.ack(await c.publish("secret:wide", [{"data": "x"}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40160
    await c.close()
    assert await stored(target, "secret:wide") == []


async def test_reauth_cannot_widen_capability_beyond_the_key(target: BrokerProcess) -> None:
    c, first = await connect(target, accessToken=jwt(capability='{"chat:1":["subscribe"]}', key=NARROW))
    await c.send({"action": Action.AUTH, "auth": {"accessToken": jwt(capability='{"*":["*"]}', key=NARROW)}})
    again = await c.expect(Action.CONNECTED)
    assert again["connectionId"] == first["connectionId"]
    # Wider than before (all of chat:*), but never beyond the key.
    ack = await c.ack(await c.publish("chat:reauth", [{"data": "allowed"}]))
    assert ack["action"] == Action.ACK
    await c.send({"action": Action.ATTACH, "channel": "secret:reauth"})
    err = await c.expect(Action.ERROR, lambda m: m.get("channel") == "secret:reauth")
    assert err["error"]["code"] == 40160
    nack = await c.ack(await c.publish("secret:reauth", [{"data": "escalated"}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40160
    await c.close()
    assert await stored(target, "secret:reauth") == []


async def test_reauth_with_capability_disjoint_from_the_key(target: BrokerProcess) -> None:
    c, _ = await connect(target, accessToken=jwt(key=NARROW))
    await c.send({"action": Action.AUTH, "auth": {"accessToken": jwt(capability='{"admin:*":["*"]}', key=NARROW)}})
    err = await c.expect(Action.ERROR)
    assert "channel" not in err and err["error"]["code"] == 40160
    await assert_closed(c)


@pytest.mark.parametrize(("before", "after"), [("alice", "bob"), ("alice", None), (None, "alice")])
async def test_reauth_cannot_change_client_id(target: BrokerProcess, before: str | None, after: str | None) -> None:
    c, _ = await connect(target, accessToken=jwt(before))
    await c.send({"action": Action.AUTH, "auth": {"accessToken": jwt(after)}})
    err = await c.expect(Action.ERROR)
    assert "channel" not in err and (err["error"]["code"], err["error"]["statusCode"]) == (40102, 401)
    await assert_closed(c)


async def test_reauth_narrowing_fails_channels_no_longer_allowed(target: BrokerProcess) -> None:
    c, _ = await connect(target, accessToken=jwt())
    await c.attach("chat:keep")
    await c.attach("chat:drop")
    await c.send({"action": Action.AUTH, "auth": {"accessToken": jwt(capability='{"chat:keep":["*"]}')}})
    await c.expect(Action.CONNECTED)
    err = await c.expect(Action.ERROR, lambda m: m.get("channel") == "chat:drop")
    assert err["error"]["code"] == 40160
    nack = await c.ack(await c.publish("chat:drop", [{"data": "after-narrowing"}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40160
    await c.close()
    assert await stored(target, "chat:drop") == []


async def test_reauth_removing_subscribe_stops_delivery(target: BrokerProcess) -> None:
    """A channel the new token may still publish to but no longer read must not keep delivering."""
    c, _ = await connect(target, accessToken=jwt())
    await c.attach("chat:read")
    await c.send({"action": Action.AUTH, "auth": {"accessToken": jwt(capability='{"chat:read":["publish"]}')}})
    await c.expect(Action.CONNECTED)
    err = await c.expect(Action.ERROR, lambda m: m.get("channel") == "chat:read")
    assert err["error"]["code"] == 40160
    other, _ = await connect(target, key=TEST_KEY)
    assert (await other.ack(await other.publish("chat:read", [{"data": "not for readers without subscribe"}])))["action"] == Action.ACK
    await other.close()
    await c.send({"action": Action.HEARTBEAT, "id": "after-publish"})
    await c.expect(Action.HEARTBEAT, lambda m: m.get("id") == "after-publish")
    assert not [m for m in c.skipped if m.get("action") == Action.MESSAGE], "delivered without the subscribe capability"
    await c.close()


# -- keys (Basic auth) ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [f"{ROOT.name}:wrongsecret", f"{NARROW.name}:{ROOT.secret}", "tether.ghost:whatever",
                                 ROOT.name, f"{ROOT.key_string}x"],
                         ids=["wrong_secret", "another_keys_secret", "unknown_key", "no_secret", "suffixed_secret"])
async def test_basic_auth_with_a_wrong_key(target: BrokerProcess, key: str) -> None:
    url = f"{target.http_url}/channels/chat:basic/messages"
    assert error_code(await http("GET", url, headers=basic(key))) == (401, 40101)
    assert error_code(await http("GET", url, params={"key": key})) == (401, 40101)
    error = await refused_at_connect(target, key=key)
    assert (error["code"], error["statusCode"]) == (40101, 401)


async def test_narrow_key_is_held_to_its_capability(target: BrokerProcess) -> None:
    resp = await http("GET", f"{target.http_url}/channels/secret:1/messages", headers=basic(NARROW.key_string))
    assert error_code(resp) == (401, 40160)
    c, _ = await connect(target, key=NARROW.key_string)
    await c.send({"action": Action.ATTACH, "channel": "secret:1"})
    err = await c.expect(Action.ERROR, lambda m: m.get("channel") == "secret:1")
    assert err["error"]["code"] == 40160
    await c.close()


@pytest.mark.parametrize(("value", "status", "code"), [
    pytest.param(None, 401, 40101, id="missing"),
    pytest.param("", 401, 40101, id="empty"),
    pytest.param("Basic", 401, 40101, id="basic_without_value"),
    pytest.param("Basic !!!not-base64!!!", 400, 40005, id="basic_not_base64"),
    pytest.param("Basic " + base64.b64encode(b"\xff\xfe\xfd").decode(), 400, 40005, id="basic_not_utf8"),
    pytest.param("Basic " + base64.b64encode(b"no-colon-at-all").decode(), 401, 40101, id="basic_without_colon"),
    pytest.param("Bearer", 401, 40101, id="bearer_without_value"),
    pytest.param("Bearer abc", 401, 40144, id="bearer_not_base64"),
    pytest.param("Bearer " + base64.b64encode(b"not-a-jwt").decode(), 401, 40143, id="bearer_base64_of_non_jwt"),
    pytest.param("Bearer " + base64.b64encode(b"\xff.\xfe.\xfd").decode(), 401, 40144, id="bearer_base64_of_binary"),
    pytest.param("Bearer a.b.c.d", 401, 40143, id="bearer_four_segments"),
    pytest.param("Digest username=alice", 401, 40101, id="unknown_scheme_digest"),
    pytest.param("Token abc", 401, 40101, id="unknown_scheme_token"),
])
def test_malformed_authorization_header(target: BrokerProcess, value: str | None, status: int, code: int) -> None:
    headers = {} if value is None else {"Authorization": value}
    resp = httpx.get(f"{target.http_url}/channels/chat:1/messages", headers=headers)
    assert error_code(resp) == (status, code)


async def test_broker_still_serves_after_the_attacks(target: BrokerProcess) -> None:
    """Nothing above may have wedged the broker: an honest client still publishes and reads back."""
    c, _ = await connect(target, accessToken=jwt())
    await c.attach("chat:after")
    ack = await c.ack(await c.publish("chat:after", [{"data": "fine"}]))
    assert ack["action"] == Action.ACK
    msg = await c.expect(Action.MESSAGE, timeout=TIMEOUT)
    assert msg["messages"][0]["clientId"] == "alice"
    await c.close()
