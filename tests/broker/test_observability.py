"""Operator surface against a real broker: /metrics after real traffic, probes, JSON logs,
channel enumeration and /stats over REST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx

from broker.protocol.actions import Action
from tests.presence.support import ENTER, presence_ok
from tests.support.broker import ROOT, BrokerProcess
from tests.support.metrics import scrape, value
from tests.support.stats import totals
from tests.support.wire import WireClient


async def open_client(broker: BrokerProcess, **params: str) -> tuple[WireClient, dict[str, Any]]:
    client = await WireClient.open(broker.ws_url, "json", key=broker.key, **params)
    return client, await client.connected()


def rest(broker: BrokerProcess) -> httpx.Client:
    name, _, secret = broker.key.partition(":")
    return httpx.Client(base_url=broker.http_url, auth=(name, secret), timeout=5)


async def test_metrics_move_with_real_traffic(broker: BrokerProcess) -> None:
    before = scrape(broker)
    assert value(before, "tether_connections") == 0
    assert value(before, "tether_storage_bytes") > 0, "the SQLite file is measured"

    sub, _ = await open_client(broker)
    await sub.attach("room")
    pub, connected = await open_client(broker, clientId="alice")
    await pub.attach("room")
    for i in range(5):
        ack = await pub.ack(await pub.publish("room", [{"name": "n", "data": f"m{i}"}]))
        assert ack["action"] == Action.ACK
    nack = await pub.ack(await pub.publish("room", [{"data": "x" * 70_000}]))
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40009
    received: list[dict[str, Any]] = []
    while len(received) < 5:
        received += (await sub.expect(Action.MESSAGE))["messages"]
    await presence_ok(pub, "room", {"action": ENTER, "data": "here"})
    with rest(broker) as http:
        assert http.post("/channels/room/messages", json=[{"data": "r1"}, {"data": "r2"}]).status_code == 201
    while len(received) < 7:
        received += (await sub.expect(Action.MESSAGE))["messages"]

    after = scrape(broker)
    assert value(after, "tether_connections") == 2
    assert value(after, "tether_channels") == 1
    assert value(after, "tether_attachments") == 2
    assert value(after, "tether_presence_members") == 1
    assert value(after, "tether_connections_opened_total") == 2
    assert value(after, "tether_messages_received_total", transport="realtime") == 5
    assert value(after, "tether_messages_received_total", transport="rest") == 2
    assert value(after, "tether_presence_messages_received_total") == 1
    assert value(after, "tether_messages_delivered_total") >= 7
    assert value(after, "tether_acks_total") == 6  # five publishes and the presence enter
    assert value(after, "tether_nacks_total", code="40009") == 1
    assert value(after, "tether_publish_latency_seconds_count", transport="realtime") == 5
    assert value(after, "tether_publish_latency_seconds_count", transport="rest") == 1
    assert value(after, "tether_commit_latency_seconds_count") >= 1
    assert value(after, "tether_bytes_received_total") > value(before, "tether_bytes_received_total") + 70_000
    assert value(after, "tether_bytes_sent_total") > value(before, "tether_bytes_sent_total")
    assert value(after, "tether_api_requests_total", result="succeeded") >= 1

    # A dropped transport and its resume; then a resume with a key the broker never issued.
    key = connected["connectionDetails"]["connectionKey"]
    pub.ws.transport.abort()
    again, resumed = await open_client(broker, resume=key, clientId="alice")
    assert resumed["connectionId"] == connected["connectionId"]
    stranger, refused = await open_client(broker, resume="unknown!abcdef")
    assert refused["error"]["code"] == 80008
    resumes = scrape(broker)
    assert value(resumes, "tether_resumes_total", result="resumed") == 1
    assert value(resumes, "tether_resumes_total", result="failed") == 1
    for client in (sub, again, stranger):
        await client.close()


async def test_metrics_are_per_broker(broker_factory: Callable[..., BrokerProcess], tmp_path: Any) -> None:
    """Two brokers' counters never mix (each has its own registry)."""
    one = broker_factory(db=tmp_path / "one.db").start()
    two = broker_factory(db=tmp_path / "two.db").start()
    client, _ = await open_client(one)
    assert value(scrape(one), "tether_connections") == 1
    assert value(scrape(two), "tether_connections") == 0
    await client.close()


def test_healthz_and_readyz(broker: BrokerProcess) -> None:
    assert httpx.get(f"{broker.http_url}/healthz").text == "ok\n"
    ready = httpx.get(f"{broker.http_url}/readyz")
    assert ready.status_code == 200 and ready.text == "ready\n"


def test_readyz_fails_when_storage_is_gone(broker_factory: Callable[..., BrokerProcess], tmp_path: Any) -> None:
    """Readiness asks the store: with the database files overwritten by zeros the reader cannot
    answer, so /readyz says 503 while /healthz (alive) stays 200."""
    db = tmp_path / "gone.db"
    broker = broker_factory(db=db).start()
    for suffix in ("", "-wal", "-shm"):
        path = db.with_name(db.name + suffix)
        if path.exists():
            path.write_bytes(b"\0" * 4096)
    ready = httpx.get(f"{broker.http_url}/readyz", timeout=5)
    assert ready.status_code == 503 and ready.text.startswith("not ready: storage")
    assert httpx.get(f"{broker.http_url}/healthz").status_code == 200


async def test_json_logs_carry_connection_ids(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(extra_args=["--log-format", "json"]).start()
    client, connected = await open_client(broker)
    await client.close()
    lines = [json.loads(line) for line in broker.log().splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    opened = [line for line in lines if line["msg"].startswith(f"connection {connected['connectionId']} opened")]
    assert opened and opened[0]["connectionId"] == connected["connectionId"] and opened[0]["level"] == "info"


async def test_channel_enumeration_prefix_and_pages(broker: BrokerProcess) -> None:
    clients = []
    names = [f"chat:{i:02d}" for i in range(5)] + ["other"]
    for name in names:
        client, _ = await open_client(broker)
        await client.attach(name)
        clients.append(client)
    with rest(broker) as http:
        pages: list[list[str]] = []
        url = "/channels?prefix=chat:&limit=2&by=id"
        while True:
            response = http.get(url)
            assert response.status_code == 200
            pages.append(response.json())
            nxt = response.links.get("next")
            if nxt is None:
                break
            url = "/" + nxt["url"].removeprefix("./")
        assert pages == [["chat:00", "chat:01"], ["chat:02", "chat:03"], ["chat:04"]]
        details = http.get("/channels", params={"prefix": "oth"}).json()
        assert [d["channelId"] for d in details] == ["other"]
        assert details[0]["status"]["occupancy"]["metrics"]["subscribers"] == 1
        bad = http.get("/channels", params={"by": "nope"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == 40003
    for client in clients:
        await client.close()


async def test_stats_answer_real_counters(broker: BrokerProcess) -> None:
    pub, _ = await open_client(broker)
    for i in range(3):
        assert (await pub.ack(await pub.publish("s", [{"data": f"d{i}"}])))["action"] == Action.ACK
    with rest(broker) as http:
        for unit in ("minute", "hour", "day", "month"):
            stats = http.get("/stats", params={"unit": unit}).json()
            assert stats and all(s["unit"] == unit for s in stats)
            assert "inProgress" in stats[0], "newest first, and still running"
            assert [s["intervalId"] for s in stats] == sorted((s["intervalId"] for s in stats), reverse=True)
            entries = totals([s["entries"] for s in stats])
            assert entries["messages.inbound.realtime.messages.count"] == 3
            assert entries["messages.inbound.realtime.messages.data"] == len("d0") * 3
            assert entries["connections.all.opened"] == 1 and entries["connections.all.peak"] == 1
            assert stats[0]["appId"] == broker.key.partition(".")[0] and stats[0]["schema"].startswith("https://")
        bad = http.get("/stats", params={"unit": "week"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == 40003
        assert http.get("/stats", params={"start": 0, "end": 1}).json() == []
        assert httpx.get(f"{broker.http_url}/stats").status_code == 401
    await pub.close()


def test_bad_log_format_from_the_environment_is_one_clear_line(tmp_path: Any) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}, "BROKER_LOG_FORMAT": "xml"}
    done = subprocess.run([sys.executable, "-m", "broker", "--db", str(tmp_path / "x.db")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1  # a bad setting is a startup error (2 is kept for usage mistakes)
    assert "BROKER_LOG_FORMAT='xml': choose one of text, json" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
