"""Refusals as ably-js reports them: capability denied (40160), clientId mismatch (40102), and a
literal token that cannot be renewed (ably-js turns the broker's 40142 into 40171, FAILED).

Memory-engine broker shared by the module: nothing here depends on storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=tmp_path_factory.mktemp("auth-denied") / "broker.db", engine="memory").start()
    yield proc
    proc.stop()


def denied(broker: BrokerProcess, case: str, **extra: Any) -> dict[str, Any]:
    return run_scenario("auth_denied.mjs", {
        **broker_params(broker), "format": "json", "case": case, "clientId": "alice",
        "capability": {"ro:*": ["subscribe"]}, "ttlMs": 60_000, **extra,
    }, brokers=(broker,))


def code_of(outcome: dict[str, Any]) -> tuple[int, int]:
    assert not outcome["ok"], f"the broker allowed it: {outcome}"
    return outcome["error"]["code"], outcome["error"]["statusCode"]


def test_capability_denied_publish_and_attach(auth_broker: BrokerProcess) -> None:
    result = denied(auth_broker, "capability")
    assert code_of(result["publishUnattached"]) == (40160, 401)
    assert result["attachReadonly"]["ok"], result["attachReadonly"]
    assert result["attachReadonly"]["value"] == ["subscribe", "presence_subscribe"], \
        "attach modes are what was requested ∩ what the capability permits"
    assert code_of(result["publishAttached"]) == (40160, 401)
    assert code_of(result["attachSecret"]) == (40160, 401)
    assert result["secretState"] == "failed" and result["secretReason"]["code"] == 40160
    assert code_of(result["restPublish"]) == (40160, 401)
    # Refusals are per operation: the connection itself is untouched.
    assert result["connectionState"] == "connected"
    assert [s["to"] for s in result["states"]] == ["connecting", "connected"]


def test_client_id_mismatch(auth_broker: BrokerProcess) -> None:
    result = denied(auth_broker, "clientIdMismatch")
    broker, sdk = result["broker"], result["sdk"]
    assert broker["state"] == "failed" and broker["reason"]["code"] == 40102, \
        "a JWT string's clientId is only known to the broker, which must refuse 'bob'"
    # With TokenDetails ably-js sees the mismatch itself, before connecting; 2.28.0 reports it
    # as DISCONNECTED (retrying later), not FAILED. Recorded here so a change of SDK behaviour shows.
    assert (sdk["state"], sdk["reason"]["code"]) == ("disconnected", 40102)
    assert "alice" in broker["reason"]["message"] and "bob" in broker["reason"]["message"]


def test_expired_literal_token_is_not_renewable(auth_broker: BrokerProcess) -> None:
    result = denied(auth_broker, "expiredLiteral")
    assert result["realtime"]["state"] == "failed"
    assert (result["realtime"]["reason"]["code"], result["realtime"]["reason"]["statusCode"]) == (40171, 403)
    assert code_of(result["rest"]) == (40171, 403), "REST retries a 40142 with a new token, and there is none"


def test_literal_token_expiring_while_connected(auth_broker: BrokerProcess) -> None:
    ttl_ms = 2000
    result = denied(auth_broker, "literalExpires", ttlMs=ttl_ms)
    assert result["state"] == "failed" and result["reason"]["code"] == 40171
    # The broker's renewal request (AUTH, shortly before expiry) is what makes the SDK give up:
    # the JWT's exp is whole seconds, so the token lives (ttl - 1 s, ttl].
    assert result["failedAfterMs"] <= ttl_ms + 1000
