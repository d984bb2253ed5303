"""Resume and recover at the protocol level: exact frames against a real broker process.

The ably-js suites (test_ablyjs_*.py) show the SDK is satisfied; these pin down the frames
that make it so: which connectionId and error a resume gets, that re-sent publishes are
answered once each with their first serials, and that channel traffic waits for re-ATTACH.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest

from broker.protocol.actions import Action, Flag
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

from .rest import history

TTL_SECONDS = 1.0


async def open_client(broker: BrokerProcess, fmt: str = "json", **params: str) -> tuple[WireClient, dict[str, Any]]:
    client = await WireClient.open(broker.ws_url, fmt, key=broker.key, **params)
    return client, await client.connected()


def cut(client: WireClient) -> None:
    """Kill the socket without a close handshake, as a network failure would."""
    client.ws.transport.abort()


async def barrier(client: WireClient) -> list[dict[str, Any]]:
    """Everything the broker sent before answering a ping: the broker answers in order."""
    await client.send({"action": Action.HEARTBEAT, "id": "barrier"})
    await client.expect(Action.HEARTBEAT, lambda m: m.get("id") == "barrier")
    frames, client.skipped = client.skipped, []
    return frames


async def collect(client: WireClient, channel: str, count: int) -> list[dict[str, Any]]:
    """`count` messages of `channel`, in arrival order."""
    got: list[dict[str, Any]] = []
    while len(got) < count:
        frame = await client.expect(Action.MESSAGE, lambda m: m.get("channel") == channel)
        got += frame["messages"]
    return got


ANSWERS = (Action.ACK, Action.NACK)


async def answers_through(client: WireClient, msg_serial: int,
                          seen: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(msgSerial, result) for every ACKed serial up to the answer covering `msg_serial`, and
    then any answer that follows before a ping: each serial must be answered exactly once.
    `seen`: frames already taken off the connection."""
    frames = [f for f in seen if f["action"] in ANSWERS]
    while not frames or frames[-1]["msgSerial"] + frames[-1]["count"] <= msg_serial:
        frames.append(await client.expect(Action.ACK))
    frames += [f for f in await barrier(client) if f["action"] in ANSWERS]
    out = []
    for frame in frames:
        assert frame["action"] == Action.ACK, frame
        out += [(frame["msgSerial"] + i, res) for i, res in enumerate(frame["res"])]
    return out


@contextmanager
def store_locked(broker: BrokerProcess, locked: bool) -> Iterator[None]:
    """Hold the store's write lock, so the broker's commits wait (its busy timeout is 5 s)."""
    if not locked:
        yield
        return
    with closing(sqlite3.connect(broker.db, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


@pytest.mark.parametrize(("fmt", "when"), [("json", "committed"), ("msgpack", "committed"),
                                           ("json", "committing"), ("msgpack", "committing")])
async def test_a_resume_keeps_the_connection_and_answers_resent_publishes_once(
        broker: BrokerProcess, fmt: str, when: str) -> None:
    """`committing`: the first copies are still being committed when the client re-sends them."""
    watcher, _ = await open_client(broker, fmt)
    await watcher.attach("resend")
    publisher, connected = await open_client(broker, fmt)
    key = connected["connectionDetails"]["connectionKey"]
    with store_locked(broker, when == "committing"):
        for i in range(3):
            await publisher.publish("resend", [{"name": "n", "data": f"m{i}"}])
        if when == "committed":
            await collect(watcher, "resend", 3)
        else:
            await barrier(publisher)  # read by the broker, stuck in the commit
        cut(publisher)
        again, resumed = await open_client(broker, fmt, resume=key)
        assert resumed["connectionId"] == connected["connectionId"]
        assert "error" not in resumed
        for i in range(4):  # the three it has no ACK for, with their original msgSerials, then a new one
            await again.send({"action": Action.MESSAGE, "channel": "resend", "msgSerial": i,
                              "messages": [{"name": "n", "data": f"m{i}"}]})
        early = await barrier(again)
    answers = await answers_through(again, 3, early)
    assert [serial for serial, _ in answers] == [0, 1, 2, 3]
    stored = history(broker, "resend")
    assert [m["data"] for m in stored] == ["m0", "m1", "m2", "m3"]
    assert [res["serials"][0] for _, res in answers] == [m["serial"] for m in stored]
    for client in (watcher, again):
        await client.close()


@pytest.mark.parametrize(("key", "code"), [("AbCdEfGhIj!unknownunknownunknown", 80008), ("no-separator", 80018)])
async def test_an_unusable_resume_key_gets_a_new_connection_and_the_error(broker: BrokerProcess, key: str,
                                                                          code: int) -> None:
    first, connected = await open_client(broker)
    client, fresh = await open_client(broker, resume=key)
    assert fresh["connectionId"] != connected["connectionId"]
    assert fresh["error"]["code"] == code and fresh["error"]["statusCode"] == 400
    assert fresh["connectionDetails"]["connectionKey"] != key
    for c in (first, client):
        await c.close()


async def test_a_resume_supersedes_a_transport_the_broker_still_thinks_is_alive(broker: BrokerProcess) -> None:
    old, connected = await open_client(broker)
    new, resumed = await open_client(broker, resume=connected["connectionDetails"]["connectionKey"])
    assert resumed["connectionId"] == connected["connectionId"] and "error" not in resumed
    await asyncio.wait_for(old.ws.wait_closed(), 5)
    await new.publish("superseded", [{"data": "x"}])
    assert (await new.ack(0))["action"] == Action.ACK
    await new.close()


@pytest.mark.parametrize("param", ["resume", "recover"])
async def test_after_a_resume_traffic_waits_for_the_reattach_which_resumes_from_the_cursor(
        broker: BrokerProcess, param: str) -> None:
    sub, connected = await open_client(broker, "msgpack")
    attached = await sub.attach("away")
    pub, _ = await open_client(broker)
    await pub.publish("away", [{"data": "before"}])
    await pub.ack(0)
    cursor = (await sub.expect(Action.MESSAGE))["channelSerial"]
    cut(sub)
    for i in range(3):
        await pub.publish("away", [{"data": f"away-{i}"}])
    await pub.ack(3)

    back, resumed = await open_client(broker, "msgpack", **{param: connected["connectionDetails"]["connectionKey"]})
    assert resumed["connectionId"] == connected["connectionId"] and "error" not in resumed
    await pub.publish("away", [{"data": "while-reattaching"}])
    await pub.ack(4)
    assert [f for f in await barrier(back) if f["action"] == Action.MESSAGE] == []
    reattached = await back.attach("away", channelSerial=cursor)
    assert reattached["flags"] & Flag.RESUMED and reattached["channelSerial"] == cursor
    assert attached["channelSerial"] < cursor
    got = await collect(back, "away", 4)
    assert [m["data"] for m in got] == ["away-0", "away-1", "away-2", "while-reattaching"]
    for c in (pub, back):
        await c.close()


async def test_past_the_ttl_a_resume_gets_a_new_connection(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(extra_args=["--connection-state-ttl", str(TTL_SECONDS)]).start()
    first, connected = await open_client(broker)
    assert connected["connectionDetails"]["connectionStateTtl"] == TTL_SECONDS * 1000
    cut(first)
    await asyncio.sleep(TTL_SECONDS * 1.5)  # the broker's state timer is the event; nothing observable to await
    again, fresh = await open_client(broker, resume=connected["connectionDetails"]["connectionKey"])
    assert fresh["connectionId"] != connected["connectionId"]
    assert fresh["error"]["code"] == 80008
    await again.close()
