"""Token expiry and renewal during a continuous stream, with ably-js on both ends.

Tokens live 3 s, so over a stream of at least 7 s each client renews at least twice; the
broker asks for each renewal (AUTH shortly before expiry) and the SDK answers on the same
connection. Nothing may be lost, duplicated or reordered, and no connection may drop. When a
renewal comes too late the broker disconnects with 40142 and the SDK must resume, again
without losing anything.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

TTL_MS = 3000
MIN_RENEWALS = 2


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """Memory engine: renewal is connection state, not storage."""
    proc = BrokerProcess(db=tmp_path_factory.mktemp("auth-renewal") / "broker.db", engine="memory").start()
    yield proc
    proc.stop()


def test_stream_survives_token_renewals(auth_broker: BrokerProcess) -> None:
    result = run_scenario("auth_renewal.mjs", {
        **broker_params(auth_broker), "format": "json", "channel": "renewal:stream",
        "capability": {"renewal:*": ["publish", "subscribe"]}, "ttlMs": TTL_MS,
        "intervalMs": 20, "durationMs": 7000, "maxDurationMs": 15000, "minRenewals": MIN_RENEWALS,
    }, timeout=45, brokers=(auth_broker,))

    sent = result["sent"]
    assert result["publishErrors"] == []
    expected = [str(i) for i in range(sent)]
    for side, client_id in (("bySubscriber", "publisher"), ("byPublisher", "publisher")):
        received = result[side]
        assert [m["data"] for m in received] == expected, f"{side}: lost, duplicated or reordered messages"
        serials = [m["serial"] for m in received]
        assert serials == sorted(serials) and len(set(serials)) == sent
        assert {m["clientId"] for m in received} == {client_id}

    # Renewals happened while the stream was flowing, on the same connections.
    for who, calls in result["tokenCalls"].items():
        during = [t for t in calls if 0 < t < result["streamMs"]]
        assert len(during) >= MIN_RENEWALS, f"{who} renewed {len(during)} times during the stream: {calls}"
    assert result["idsAfter"] == result["idsBefore"]
    for states in (result["pubStates"], result["subStates"]):
        transitions = [(s["from"], s["to"]) for s in states]
        assert transitions[:2] == [("initialized", "connecting"), ("connecting", "connected")]
        assert set(transitions[2:]) == {("connected", "connected")}, f"a renewal disturbed a connection: {transitions}"
        assert len(transitions[2:]) >= MIN_RENEWALS
    assert result["channelStates"] == {"publisher": "attached", "subscriber": "attached"}


def test_renewal_too_late_resumes_the_same_connection(auth_broker: BrokerProcess) -> None:
    """The token expires before the SDK's slow authCallback delivers its successor: the broker
    disconnects with 40142; ably-js renews and resumes, and the channel continues without a gap."""
    ttl_ms = 2000
    result = run_scenario("auth_expiry_resume.mjs", {
        **broker_params(auth_broker), "format": "json", "channel": "renewal:late",
        "capability": {"renewal:*": ["subscribe"]}, "ttlMs": ttl_ms, "slowMs": 1000,
        "intervalMs": 25, "durationMs": 2500, "maxDurationMs": 10000,
    }, timeout=30, brokers=(auth_broker,))

    assert result["publishErrors"] == []
    assert result["received"] == [str(i) for i in range(result["sent"])], "lost, duplicated or reordered"
    assert result["idAfter"] == result["idBefore"], "the connection must be resumed, not replaced"
    connection = [(s["from"], s["to"], s["reason"]) for s in result["states"] if s["on"] == "connection"]
    assert ("connected", "disconnected", 40142) in connection, connection
    assert connection[-1][1] == "connected"
    assert all(to != "failed" for _, to, _ in connection)
    channel = [s for s in result["states"] if s["on"] == "renewal:late"]
    assert all(s["to"] != "failed" for s in channel), channel
    assert result["channelState"] == "attached"
