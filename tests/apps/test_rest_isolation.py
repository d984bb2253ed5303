"""REST: two apps on one broker share channel names and nothing else; rules see the plain name."""

from __future__ import annotations

import base64

import httpx

from broker.auth import create_token_request
from tests.support.broker import BrokerProcess

from .support import ALPHA, BETA, App, now_ms

ROOM = "chat:room"
UPDATE, APPEND = 1, 5


def test_publish_history_and_single_message_reads_stay_within_the_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    resp = alpha.post(f"/channels/{ROOM}/messages", [{"data": "a1"}, {"data": "a2"}])
    assert resp.status_code == 201 and resp.json()["channel"] == ROOM
    serial = resp.json()["serials"][0]
    assert [m["data"] for m in alpha.history(ROOM)] == ["a2", "a1"]
    assert beta.history(ROOM) == []
    assert beta.get(f"/channels/{ROOM}/messages/{serial}").status_code == 404
    missing = beta.get(f"/channels/{ROOM}/messages/{serial}/versions")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 40400
    assert alpha.get(f"/channels/{ROOM}/messages/{serial}").json()["data"] == "a1"
    status = beta.get(f"/channels/{ROOM}").json()
    assert status["name"] == ROOM and status["status"]["occupancy"]["metrics"]["presenceMembers"] == 0


def test_mutations_reach_only_the_apps_own_messages(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    serial = alpha.post(f"/channels/{ROOM}/messages", {"data": "orig"}).json()["serials"][0]
    stolen = httpx.patch(beta.url(f"/channels/{ROOM}/messages/{serial}"), headers=beta.headers,
                         json={"action": UPDATE, "data": "beta was here"})
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == 40400
    assert f"channel {ROOM}" in stolen.json()["error"]["message"]
    own = httpx.patch(alpha.url(f"/channels/{ROOM}/messages/{serial}"), headers=alpha.headers,
                      json={"action": APPEND, "data": "+"})
    assert own.status_code == 200
    assert alpha.get(f"/channels/{ROOM}/messages/{serial}").json()["data"] == "orig+"
    assert beta.history(ROOM) == []


def test_idempotent_rest_publish_ids_are_per_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    first = alpha.post(f"/channels/{ROOM}/messages", {"id": "dup", "data": "alpha"}).json()["serials"]
    again = alpha.post(f"/channels/{ROOM}/messages", {"id": "dup", "data": "alpha"}).json()["serials"]
    other = beta.post(f"/channels/{ROOM}/messages", {"id": "dup", "data": "beta"}).json()["serials"]
    assert again == first
    assert [(m["id"], m["data"]) for m in alpha.history(ROOM)] == [("dup", "alpha")]
    assert [(m["id"], m["data"], m["serial"]) for m in beta.history(ROOM)] == [("dup", "beta", other[0])]


def test_presence_history_stays_within_the_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    assert alpha.get(f"/channels/{ROOM}/presence/history").json() == []
    assert beta.get(f"/channels/{ROOM}/presence/history").json() == []
    assert beta.get(f"/channels/{ROOM}/presence").json() == []


def test_tokens_from_request_token_reach_their_own_app_only(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    body = create_token_request(beta.key, now_ms(), ttl_ms=60_000, capability='{"*":["*"]}', client_id="bob")
    crossed = httpx.post(alpha.url(f"/keys/{alpha.key.name}/requestToken"), json=body, timeout=10)
    assert crossed.status_code in (400, 401)  # beta's signed request names beta's key, not alpha's
    details = httpx.post(beta.url(f"/keys/{beta.key.name}/requestToken"), json=body, timeout=10).json()
    bearer = {"Authorization": "Bearer " + base64.b64encode(details["token"].encode()).decode()}
    alpha.post(f"/channels/{ROOM}/messages", {"data": "alpha only"})
    assert beta.post(f"/channels/{ROOM}/messages", {"data": "by token"}, headers=bearer).status_code == 201
    assert [m["data"] for m in beta.get(f"/channels/{ROOM}/messages", headers=bearer).json()] == ["by token"]
    assert [m["data"] for m in alpha.get(f"/channels/{ROOM}/messages", headers=alpha.bearer()).json()] == ["alpha only"]


def test_annotations_over_rest_stay_within_the_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    serial = alpha.post(f"/channels/{ROOM}/messages", {"data": "m"}).json()["serials"][0]
    annotation = {"type": "reaction:distinct.v1", "name": "+1", "clientId": "ann"}
    assert alpha.post(f"/channels/{ROOM}/messages/{serial}/annotations", annotation).status_code == 201
    refused = beta.post(f"/channels/{ROOM}/messages/{serial}/annotations", annotation)
    assert refused.status_code == 404
    assert [a["name"] for a in alpha.get(f"/channels/{ROOM}/messages/{serial}/annotations").json()] == ["+1"]
    assert alpha.get(f"/channels/{ROOM}/messages/{serial}").json()["annotations"]["summary"]


def test_retention_and_channel_rules_match_the_plain_channel_name(broker_factory: type[BrokerProcess]) -> None:
    broker = broker_factory(keys=[ALPHA, BETA], extra_args=[
        "--retention", "keep:* max=2", "--channel-rules", '{"locked": {"mutableMessages": false}}']).start()
    for app in (App(broker, ALPHA), App(broker, BETA)):
        for n in range(3):
            assert app.post("/channels/keep:x/messages", {"data": f"m{n}"}).status_code == 201
        assert [m["data"] for m in app.history("keep:x")] == ["m2", "m1"]
        serial = app.post("/channels/locked:1/messages", {"data": "a"}).json()["serials"][0]
        refused = httpx.patch(app.url(f"/channels/locked:1/messages/{serial}"), headers=app.headers,
                              json={"action": UPDATE, "data": "b"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 93002
