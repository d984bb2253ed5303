"""Isolation survives a broker restart on SQLite; logs written before apps were scoped stay unread."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx

from broker.engine.sqlite import SqliteEngine
from broker.protocol.actions import Action, Flag
from broker.protocol.message import Message
from tests.support.broker import BrokerProcess

from .support import ALPHA, BETA, App, data_of

ROOM = "chat:room"


async def test_apps_stay_apart_across_a_restart(broker_factory: type[BrokerProcess]) -> None:
    broker = broker_factory(keys=[ALPHA, BETA]).start()
    alpha, beta = App(broker, ALPHA), App(broker, BETA)
    serial = alpha.post(f"/channels/{ROOM}/messages", {"id": "once", "data": "alpha"}).json()["serials"][0]
    beta.post(f"/channels/{ROOM}/messages", {"data": "beta"})
    alpha.post(f"/channels/{ROOM}/messages/{serial}/annotations", {"type": "reaction:distinct.v1", "name": "+1",
                                                                    "clientId": "ann"})
    broker.stop()
    broker.start()
    assert [m["data"] for m in alpha.history(ROOM)] == ["alpha"]
    assert [m["data"] for m in beta.history(ROOM)] == ["beta"]
    # idempotency keys were restored per app: alpha's id repeats, the same id is new in beta
    assert alpha.post(f"/channels/{ROOM}/messages", {"id": "once", "data": "alpha"}).json()["serials"] == [serial]
    assert beta.post(f"/channels/{ROOM}/messages", {"id": "once", "data": "beta 2"}).json()["serials"] != [serial]
    assert [m["data"] for m in beta.history(ROOM)] == ["beta 2", "beta"]
    assert beta.get(f"/channels/{ROOM}/messages/{serial}").status_code == 404
    assert [a["name"] for a in alpha.get(f"/channels/{ROOM}/messages/{serial}/annotations").json()] == ["+1"]
    b, _ = await beta.connect()
    attached = await b.attach(ROOM, params={"rewind": "10"})
    assert attached["flags"] & Flag.HAS_BACKLOG
    assert data_of([await b.expect(Action.MESSAGE)], Action.MESSAGE) == ["beta", "beta 2"]
    await b.close()


def _legacy_store(db: Path) -> None:
    """A store as an earlier broker left it: channels under their plain names."""
    async def write() -> None:
        engine = SqliteEngine(db)
        await engine.open()
        await engine.append("room", [Message(data="before apps")], 1_700_000_000_000)
        await engine.close()
    asyncio.run(write())


def test_unscoped_data_stays_in_the_store_and_no_app_reads_it(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _legacy_store(db)
    broker = BrokerProcess(db=db, keys=[ALPHA]).start()
    try:
        alpha = App(broker, ALPHA)
        assert alpha.history("room") == []
        assert alpha.post("/channels/room/messages", {"data": "after"}).status_code == 201
        assert [m["data"] for m in alpha.history("room")] == ["after"]
        assert httpx.get(alpha.url("/healthz")).status_code == 200
    finally:
        broker.stop()
    with sqlite3.connect(db) as conn:
        channels = sorted(name for (name,) in conn.execute("SELECT DISTINCT channel FROM messages"))
    assert channels == ["\0alpha\0room", "room"]
