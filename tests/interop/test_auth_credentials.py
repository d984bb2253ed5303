"""Every way ably-js obtains a token, against the broker: authCallback (JWT string, TokenDetails,
TokenRequest from ably-js or from Python), authUrl served by the test (text/plain and
application/jwt JWTs, TokenDetails JSON, TokenRequest JSON), and a key with useTokenAuth.

Each credential must connect with the token's clientId, publish and receive on a channel its
capability allows (the broker stamps the clientId), read history over REST with the same token,
and survive an in-band re-auth (auth.authorize()) on the same connection.

The brokers here run the memory engine: auth never touches storage, and one broker serves the
whole module (each test uses its own channel) to keep the suite fast.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from broker.auth import create_token_request, parse_key_spec
from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario
from tests.support.token_server import TokenServer

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

CLIENT_ID = "alice"
CAPABILITY = {"auth:*": ["history", "publish", "subscribe"]}
TTL_MS = 60_000


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=tmp_path_factory.mktemp("auth-interop") / "broker.db", engine="memory").start()
    yield proc
    proc.stop()


@pytest.fixture
def token_server(auth_broker: BrokerProcess) -> Iterator[TokenServer]:
    server = TokenServer(parse_key_spec(auth_broker.key), client_id=CLIENT_ID,
                         capability=json.dumps(CAPABILITY), ttl_ms=TTL_MS).start()
    yield server
    server.stop()


def connect_with(broker: BrokerProcess, kind: str, channel: str, **extra: Any) -> dict[str, Any]:
    return run_scenario("auth_connect.mjs", {
        **broker_params(broker), "format": "json", "kind": kind, "channel": channel,
        "clientId": CLIENT_ID, "capability": CAPABILITY, "ttlMs": TTL_MS, **extra,
    }, brokers=(broker,))


def check_session(result: dict[str, Any]) -> None:
    """Identity from the token, stamped on what was published, kept across an in-band re-auth."""
    assert result["connectedAs"]["clientId"] == CLIENT_ID
    assert result["connectedAs"]["detailsClientId"] == CLIENT_ID
    assert result["connectedAs"]["tokenMethod"] == "token"
    assert [(m["data"]["value"], m["clientId"]) for m in result["received"]] == \
        [("before-reauth", CLIENT_ID), ("after-reauth", CLIENT_ID)]
    assert [(m["data"]["value"], m["clientId"]) for m in result["history"]] == \
        [("before-reauth", CLIENT_ID), ("after-reauth", CLIENT_ID)]
    assert result["afterReauth"] == {"id": result["connectedAs"]["id"], "state": "connected", "clientId": CLIENT_ID}
    assert result["renewedToken"]["hasToken"]
    transitions = [(s["from"], s["to"]) for s in result["states"]]
    assert transitions[:2] == [("initialized", "connecting"), ("connecting", "connected")]
    assert all(to == "connected" for _, to in transitions[2:]), f"the re-auth disturbed the connection: {transitions}"


@pytest.mark.parametrize(("kind", "broker_issued"), [
    ("jwt", False), ("tokenDetails", True), ("tokenRequest", True), ("tokenRequestPy", True),
])
def test_auth_callback(auth_broker: BrokerProcess, kind: str, broker_issued: bool) -> None:
    extra: dict[str, Any] = {}
    if kind == "tokenRequestPy":
        key = parse_key_spec(auth_broker.key)
        now = time.time_ns() // 1_000_000
        extra["tokenRequests"] = [create_token_request(key, now, ttl_ms=TTL_MS, capability=CAPABILITY,
                                                       client_id=CLIENT_ID) for _ in range(3)]
    result = connect_with(auth_broker, kind, f"auth:callback-{kind}", **extra)
    check_session(result)
    assert result["callbackCalls"] == 2, "one token to connect, one for authorize()"
    renewed = result["renewedToken"]
    if broker_issued:
        # A TokenDetails the broker issued from a TokenRequest carries its expiry.
        assert renewed["clientId"] == CLIENT_ID and renewed["expires"] is not None
    else:
        assert renewed["expires"] is None, "a JWT string carries no TokenDetails"


@pytest.mark.parametrize(("path", "broker_issued"), [
    ("/jwt", False), ("/jwt-typed", False), ("/details", True), ("/request", True),
])
def test_auth_url(auth_broker: BrokerProcess, token_server: TokenServer, path: str, broker_issued: bool) -> None:
    result = connect_with(auth_broker, "authUrl", f"auth:url{path.replace('/', '-')}",
                          authUrl=token_server.url + path)
    check_session(result)
    assert token_server.paths_hit() == [path, path], "one token to connect, one for authorize()"
    assert (result["renewedToken"]["expires"] is not None) == broker_issued


def test_use_token_auth(auth_broker: BrokerProcess) -> None:
    result = connect_with(auth_broker, "useTokenAuth", "auth:use-token-auth")
    check_session(result)
    renewed = result["renewedToken"]
    assert renewed["clientId"] == CLIENT_ID and renewed["expires"] is not None, \
        "useTokenAuth signs a TokenRequest locally and the broker answers with TokenDetails"


def test_rest_client_with_key(auth_broker: BrokerProcess) -> None:
    """requestToken(), createTokenRequest() and useTokenAuth from an ably-js REST client holding the key."""
    result = run_scenario("auth_rest.mjs", {**broker_params(auth_broker), "format": "json"}, brokers=(auth_broker,))
    details = result["details"]
    assert details["clientId"] == "erin" and details["expires"] - details["issued"] == 60_000
    assert json.loads(details["capability"]) == {"rest:*": ["history", "publish"]}
    assert result["tokenPublish"]["ok"], result["tokenPublish"]
    assert result["tokenHistory"] == [{"data": "by-token", "clientId": "erin"}]
    assert not result["tokenDenied"]["ok"] and result["tokenDenied"]["error"]["code"] == 40160

    request = result["request"]
    assert set(request) == {"keyName", "clientId", "ttl", "timestamp", "nonce", "mac"}
    assert result["requestPublish"]["ok"], result["requestPublish"]
    replay = result["replayPublish"]
    assert not replay["ok"] and (replay["error"]["code"], replay["error"]["statusCode"]) == (40105, 401), \
        "a TokenRequest's nonce is good for one token"
    assert result["requestHistory"] == [{"data": "by-request", "clientId": "fred"}]

    assert result["useTokenPublish"]["ok"], result["useTokenPublish"]
    assert result["useTokenMethod"] == "token"
    assert result["useTokenDetails"] == {"clientId": "gail", "lifetime": 3_600_000}, "default ttl is 60 min"
    assert result["useTokenHistory"] == [{"data": "use-token-auth", "clientId": "gail"}]

    too_long = result["tooLong"]
    assert not too_long["ok"] and (too_long["error"]["code"], too_long["error"]["statusCode"]) == (40003, 400)
