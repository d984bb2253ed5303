"""Realtime: two apps on one broker share channel names and nothing else."""

from __future__ import annotations

from broker.protocol.actions import Action, Flag
from tests.presence.support import ENTER, presence_ok, sync_pages

from .support import App, data_of, published

ROOM = "chat:room"  # the same channel name in both apps


async def test_publish_and_subscribe_stay_within_the_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    a, _ = await alpha.connect()
    b, _ = await beta.connect()
    await a.attach(ROOM)
    await b.attach(ROOM)
    await published(a, ROOM, "from alpha")
    got = await a.expect(Action.MESSAGE)
    assert data_of([got], Action.MESSAGE) == ["from alpha"] and got["channel"] == ROOM
    # beta's subscriber would have been written alpha's frame before its own publish was even read
    await published(b, ROOM, "from beta")
    first = await b.expect(Action.MESSAGE)
    assert data_of([first], Action.MESSAGE) == ["from beta"] and first["channel"] == ROOM
    assert data_of(b.skipped, Action.MESSAGE) == []
    await a.close()
    await b.close()


async def test_rewind_and_serials_are_per_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    a, _ = await alpha.connect()
    for n in range(3):
        await published(a, ROOM, f"a{n}")
    b, _ = await beta.connect()
    attached = await b.attach(ROOM, params={"rewind": "10"})
    assert not attached["flags"] & Flag.HAS_BACKLOG
    c, _ = await alpha.connect()
    replayed = await c.attach(ROOM, params={"rewind": "10"})
    assert replayed["flags"] & Flag.HAS_BACKLOG
    assert replayed["channelSerial"] != attached["channelSerial"]  # beta's channel is still empty
    backlog = await c.expect(Action.MESSAGE)
    assert data_of([backlog], Action.MESSAGE) == ["a0", "a1", "a2"]
    for client in (a, b, c):
        await client.close()


async def test_presence_members_and_sync_stay_within_the_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    a, _ = await alpha.connect(clientId="ann")
    await a.attach(ROOM)
    await presence_ok(a, ROOM, {"action": ENTER, "data": "here"})
    b, _ = await beta.connect(clientId="bob")
    attached = await b.attach(ROOM)
    assert not attached["flags"] & Flag.HAS_PRESENCE  # alpha's member is not on beta's channel
    c, _ = await alpha.connect(clientId="cat")
    seen = await c.attach(ROOM)
    assert seen["flags"] & Flag.HAS_PRESENCE
    [page] = await sync_pages(c, ROOM)
    assert [m["clientId"] for m in page["presence"]] == ["ann"]
    # beta entering is seen by beta's own attachment, and never by alpha's
    await presence_ok(b, ROOM, {"action": ENTER})
    event = await b.expect(Action.PRESENCE)
    assert [m["clientId"] for m in event["presence"]] == ["bob"] and event["channel"] == ROOM
    await presence_ok(a, ROOM, {"action": ENTER, "data": "again"})  # an update, seen by alpha
    update = await c.expect(Action.PRESENCE)
    assert [m["clientId"] for m in update["presence"]] == ["ann"]
    assert all(m["clientId"] != "bob" for f in c.skipped + a.skipped for m in f.get("presence") or [])
    members = beta.get(f"/channels/{ROOM}/presence").json()
    assert [m["clientId"] for m in members] == ["bob"]
    assert [m["clientId"] for m in alpha.get(f"/channels/{ROOM}/presence").json()] == ["ann"]
    for client in (a, b, c):
        await client.close()


async def test_resume_with_another_apps_connection_key_is_a_new_connection(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    a, connected = await alpha.connect()
    key = connected["connectionDetails"]["connectionKey"]
    await a.ws.close()  # the transport goes; alpha's connection state stays resumable
    b, stolen = await beta.connect(resume=key)
    assert stolen["connectionId"] != connected["connectionId"]
    assert stolen["error"]["code"] == 80008
    again, resumed = await alpha.connect(resume=key)  # the owner still resumes it
    assert resumed["connectionId"] == connected["connectionId"] and "error" not in resumed
    await b.close()
    await again.close()


async def test_jwts_reach_their_own_app_only(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    a, _ = await alpha.connect(token=alpha.jwt("ann"))
    await published(a, ROOM, "alpha by jwt")
    b, _ = await beta.connect(token=beta.jwt("bob"))
    attached = await b.attach(ROOM, params={"rewind": "10"})
    assert not attached["flags"] & Flag.HAS_BACKLOG
    assert [m["data"] for m in beta.history(ROOM)] == []
    assert [m["clientId"] for m in alpha.history(ROOM)] == ["ann"]
    # in-band AUTH with another app's token is refused, fatally
    await b.send({"action": Action.AUTH, "auth": {"accessToken": alpha.jwt("bob")}})
    error = await b.expect(Action.ERROR)
    assert error["error"]["code"] == 40101 and "channel" not in error
    await a.close()


async def test_idempotent_publish_ids_are_per_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    a, _ = await alpha.connect()
    b, _ = await beta.connect()
    first = await published(a, ROOM, "alpha", id="same-id")
    repeat = await published(a, ROOM, "alpha again", id="same-id")
    other = await published(b, ROOM, "beta", id="same-id")
    assert repeat == first  # within alpha: stored once
    assert [m["data"] for m in alpha.history(ROOM)] == ["alpha"]
    assert [m["data"] for m in beta.history(ROOM)] == ["beta"]  # beta's message with that id is its own
    assert beta.history(ROOM)[0]["serial"] == other
    await a.close()
    await b.close()


async def test_annotations_stay_within_the_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    a, _ = await alpha.connect(clientId="ann")
    serial = await published(a, ROOM, "annotate me")
    await a.send({"action": Action.ANNOTATION, "channel": ROOM, "msgSerial": a.msg_serial,
                  "annotations": [{"action": 0, "messageSerial": serial, "type": "reaction:distinct.v1", "name": "+1"}]})
    a.msg_serial += 1
    assert (await a.ack(a.msg_serial - 1))["action"] == Action.ACK
    b, _ = await beta.connect(clientId="bob")
    await b.send({"action": Action.ANNOTATION, "channel": ROOM, "msgSerial": 0,
                  "annotations": [{"action": 0, "messageSerial": serial, "type": "reaction:distinct.v1", "name": "x"}]})
    nack = await b.ack(0)
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40400  # not beta's message
    assert ROOM in nack["error"]["message"] and "\0" not in nack["error"]["message"]
    listed = alpha.get(f"/channels/{ROOM}/messages/{serial}/annotations").json()
    assert [x["name"] for x in listed] == ["+1"]
    assert beta.get(f"/channels/{ROOM}/messages/{serial}/annotations").json() == []
    await a.close()
    await b.close()


async def test_ephemeral_messages_stay_within_the_app(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    a, _ = await alpha.connect()
    b, _ = await beta.connect()
    await a.attach(ROOM)
    await b.attach(ROOM)
    ack = await a.ack(await a.publish(ROOM, [{"data": "fleeting", "extras": {"ephemeral": True}}]))
    assert ack["action"] == Action.ACK
    assert data_of([await a.expect(Action.MESSAGE)], Action.MESSAGE) == ["fleeting"]
    await published(b, ROOM, "beta's own")
    assert data_of([await b.expect(Action.MESSAGE)], Action.MESSAGE) == ["beta's own"]
    assert data_of(b.skipped, Action.MESSAGE) == []
    await a.close()
    await b.close()


async def test_channel_enumeration_lists_the_apps_own_live_channels(two_apps: tuple[App, App]) -> None:
    alpha, beta = two_apps
    client, _ = await alpha.connect()
    try:
        await client.attach("alpha-only:live")
        names = alpha.get("/channels", params={"by": "id"}).json()
        assert "alpha-only:live" in names
        assert "alpha-only:live" not in beta.get("/channels", params={"by": "id"}).json()
        details = alpha.get("/channels", params={"prefix": "alpha-only:"}).json()
        assert [d["name"] for d in details] == ["alpha-only:live"]
    finally:
        await client.close()
