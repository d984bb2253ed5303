"""REST API against a real broker process."""

from __future__ import annotations

import base64
import re
import time

import httpx
import msgpack
import pytest

from tests.support.broker import BrokerProcess

LINK = re.compile(r'<\./(\w+)\?([^>]*)>;\s*rel="(\w+)"')


def auth(broker: BrokerProcess) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}


def links(resp: httpx.Response) -> dict[str, str]:
    return {rel: query for _, query, rel in LINK.findall(", ".join(resp.headers.get_list("link")))}


def test_time(broker: BrokerProcess) -> None:
    before = int(time.time() * 1000)
    resp = httpx.get(f"{broker.http_url}/time")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    [ts] = resp.json()
    assert before - 1000 <= ts <= int(time.time() * 1000) + 1000
    mp = httpx.get(f"{broker.http_url}/time", headers={"Accept": "application/x-msgpack"})
    assert mp.headers["content-type"] == "application/x-msgpack" and isinstance(msgpack.unpackb(mp.content)[0], int)


def test_healthz(broker: BrokerProcess) -> None:
    assert httpx.get(f"{broker.http_url}/healthz").status_code == 200


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_publish_and_history_round_trip(broker: BrokerProcess, fmt: str) -> None:
    ctype = "application/json" if fmt == "json" else "application/x-msgpack"
    body = [{"name": "a", "data": "one"}, {"name": "b", "data": {"k": 1}}]
    raw = msgpack.packb(body) if fmt == "msgpack" else httpx._content.json_dumps(body).encode()  # type: ignore[attr-defined]
    resp = httpx.post(f"{broker.http_url}/channels/r1/messages", content=raw,
                      headers={**auth(broker), "Content-Type": ctype, "Accept": ctype})
    assert resp.status_code == 201
    result = resp.json() if fmt == "json" else msgpack.unpackb(resp.content)
    assert result["channel"] == "r1" and len(result["serials"]) == 2 and result["serials"][0] < result["serials"][1]
    hist = httpx.get(f"{broker.http_url}/channels/r1/messages", headers={**auth(broker), "Accept": ctype})
    items = hist.json() if fmt == "json" else msgpack.unpackb(hist.content)
    assert [m["name"] for m in items] == ["b", "a"]  # backwards by default
    assert items[0]["data"] == '{"k":1}' and items[0]["encoding"] == "json"
    assert [m["serial"] for m in items] == list(reversed(result["serials"]))
    assert items[1]["id"].endswith(":0") and items[0]["id"].endswith(":1")


def test_history_pagination_follows_links(broker: BrokerProcess) -> None:
    for chunk in range(5):
        httpx.post(f"{broker.http_url}/channels/pg/messages", headers=auth(broker),
                   json=[{"data": str(chunk * 10 + i)} for i in range(10)]).raise_for_status()
    for direction in ("backwards", "forwards"):
        seen: list[str] = []
        query = f"limit=15&direction={direction}"
        while True:
            resp = httpx.get(f"{broker.http_url}/channels/pg/messages?{query}", headers=auth(broker))
            resp.raise_for_status()
            seen += [m["data"] for m in resp.json()]
            rels = links(resp)
            assert "first" in rels and "current" in rels
            if "next" not in rels:
                break
            query = rels["next"]
        expected = [str(i) for i in range(50)]
        assert seen == (expected if direction == "forwards" else expected[::-1])


def test_history_time_bounds_and_from_serial(broker: BrokerProcess) -> None:
    r1 = httpx.post(f"{broker.http_url}/channels/tb/messages", headers=auth(broker), json={"data": "first"}).json()
    r2 = httpx.post(f"{broker.http_url}/channels/tb/messages", headers=auth(broker), json={"data": "second"}).json()
    position = r1["serials"][0].rpartition(":")[0]
    until = httpx.get(f"{broker.http_url}/channels/tb/messages?from_serial={position}", headers=auth(broker)).json()
    assert [m["data"] for m in until] == ["first"]
    ts = int(r2["serials"][0][:14])
    after = httpx.get(f"{broker.http_url}/channels/tb/messages?start={ts}", headers=auth(broker)).json()
    assert "second" in [m["data"] for m in after]
    future = httpx.get(f"{broker.http_url}/channels/tb/messages?start={ts + 60000}", headers=auth(broker)).json()
    assert future == []


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "direction=sideways", "start=5&end=1",
                                   "from_serial=garbage", "cursor=x"])
def test_bad_history_params(broker: BrokerProcess, query: str) -> None:
    resp = httpx.get(f"{broker.http_url}/channels/x/messages?{query}", headers=auth(broker))
    assert resp.status_code == 400
    assert resp.headers["x-ably-errorcode"] == "40003"
    assert resp.json()["error"]["code"] == 40003
    assert resp.headers["content-type"] == "application/json"


@pytest.mark.parametrize("body,ctype,code", [(b"{oops", "application/json", 40000), (b"\xc1", "application/x-msgpack", 40000),
                                             (b"[]", "application/json", 40001), (b"5", "application/json", 40001),
                                             (b'[{"data": 1.5}]', "application/json", 40013)])
def test_bad_publish_bodies(broker: BrokerProcess, body: bytes, ctype: str, code: int) -> None:
    resp = httpx.post(f"{broker.http_url}/channels/x/messages", content=body,
                      headers={**auth(broker), "Content-Type": ctype})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == code
    assert resp.headers["x-ably-errorcode"] == str(code)


def test_oversized_rest_publish(broker: BrokerProcess) -> None:
    resp = httpx.post(f"{broker.http_url}/channels/x/messages", headers=auth(broker), json={"data": "x" * 70000})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == 40009


def test_invalid_channel_name_rest(broker: BrokerProcess) -> None:
    resp = httpx.post(f"{broker.http_url}/channels/%3Abad/messages", headers=auth(broker), json={"data": "x"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 40010


def test_channel_name_with_encoded_slash_and_plus(broker: BrokerProcess) -> None:
    httpx.post(f"{broker.http_url}/channels/a%2Fb+c/messages", headers=auth(broker), json={"data": "x"}).raise_for_status()
    items = httpx.get(f"{broker.http_url}/channels/a%2Fb%20c/messages", headers=auth(broker)).json()
    assert [m["data"] for m in items] == ["x"]


def test_missing_or_bad_credentials(broker: BrokerProcess) -> None:
    resp = httpx.get(f"{broker.http_url}/channels/x/messages")
    assert resp.status_code == 401 and resp.headers["x-ably-errorcode"] == "40101"
    bad = {"Authorization": "Basic " + base64.b64encode(b"tether.root:wrong").decode()}
    assert httpx.get(f"{broker.http_url}/channels/x/messages", headers=bad).status_code == 401


def test_unknown_path_and_method(broker: BrokerProcess) -> None:
    resp = httpx.get(f"{broker.http_url}/nope", headers=auth(broker))
    assert resp.status_code == 404 and resp.json()["error"]["code"] == 40400


def test_envelope(broker: BrokerProcess) -> None:
    resp = httpx.get(f"{broker.http_url}/channels/env/messages?envelope=json&limit=1", headers=auth(broker))
    body = resp.json()
    assert resp.status_code == 200 and body["statusCode"] == 200 and body["response"] == []


def test_channel_status(broker: BrokerProcess) -> None:
    resp = httpx.get(f"{broker.http_url}/channels/st", headers=auth(broker))
    body = resp.json()
    assert body["channelId"] == "st" and "occupancy" in body["status"]


def test_keep_alive_serves_many_requests_on_one_connection(broker: BrokerProcess) -> None:
    with httpx.Client(base_url=broker.http_url, headers=auth(broker)) as http:
        for i in range(20):
            assert http.post("/channels/ka/messages", json={"data": str(i)}).status_code == 201
        assert len(http.get("/channels/ka/messages?limit=100").json()) == 20


def test_broker_survives_garbage_http(broker: BrokerProcess) -> None:
    import socket
    with socket.create_connection((broker.host, broker.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01garbage that is not http\r\n\r\n")
        data = s.recv(4096)
        assert data.startswith(b"HTTP/1.1 400")
    assert httpx.get(f"{broker.http_url}/time").status_code == 200
