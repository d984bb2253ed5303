"""Realtime presence over the raw protocol: enter/update/leave, echoes, SYNC, leaves, resume."""

from __future__ import annotations

import asyncio
import base64

import pytest

from broker.protocol.actions import Action, Flag
from tests.support.broker import BrokerProcess

from .support import (
    ENTER,
    LEAVE,
    PRESENT,
    SHORT_TTL,
    UPDATE,
    abort,
    brief,
    connect,
    next_presence,
    presence_ok,
    send_presence,
    sync_pages,
)

FORMATS = ["json", "msgpack"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_enter_update_leave_reach_presence_subscribers_stamped_by_the_server(
        broker: BrokerProcess, fmt: str) -> None:
    watcher, _ = await connect(broker, "watcher", fmt)
    await watcher.attach("room")
    alice, connected = await connect(broker, "alice", fmt)
    alice_id = connected["connectionId"]
    await alice.attach("room")

    first = await presence_ok(alice, "room", {"action": ENTER, "data": "hello"})
    entered = await next_presence(watcher, "room")
    await presence_ok(alice, "room", {"action": UPDATE, "data": "busy", "extras": {"headers": {"k": "v"}}})
    updated = await next_presence(watcher, "room")
    last = await presence_ok(alice, "room", {"action": LEAVE})
    left = await next_presence(watcher, "room")

    events = [entered["presence"][0], updated["presence"][0], left["presence"][0]]
    assert brief(events) == [(ENTER, "alice", "hello"), (UPDATE, "alice", "busy"), (LEAVE, "alice", "busy")]
    assert [e["id"] for e in events] == [f"{alice_id}:{first}:0", f"{alice_id}:{first + 1}:0", f"{alice_id}:{last}:0"]
    assert {e["connectionId"] for e in events} == {alice_id}
    assert events[1]["extras"] == {"headers": {"k": "v"}}
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps) and all(isinstance(t, int) and t > 1_600_000_000_000 for t in stamps)
    await watcher.close()
    await alice.close()


async def test_data_encodings_cross_formats(broker: BrokerProcess) -> None:
    js, _ = await connect(broker, "js-watcher", "json")
    await js.attach("enc")
    mp, _ = await connect(broker, "mp-watcher", "msgpack")
    await mp.attach("enc")
    sender, _ = await connect(broker, "sender", "msgpack")
    await sender.attach("enc")

    await presence_ok(sender, "enc", {"action": ENTER, "data": b"\x00\xffbin"})
    await presence_ok(sender, "enc", {"action": UPDATE, "data": {"status": "typing"}})
    js_events = [(await next_presence(js, "enc"))["presence"][0] for _ in range(2)]
    mp_events = [(await next_presence(mp, "enc"))["presence"][0] for _ in range(2)]

    assert js_events[0]["encoding"] == "base64" and base64.b64decode(js_events[0]["data"]) == b"\x00\xffbin"
    assert mp_events[0]["data"] == b"\x00\xffbin" and "encoding" not in mp_events[0]
    for event in (js_events[1], mp_events[1]):
        assert event["encoding"] == "json" and event["data"] == '{"status":"typing"}'
    for c in (js, mp, sender):
        await c.close()


async def test_bad_base64_data_is_nacked_and_changes_nothing(broker: BrokerProcess) -> None:
    alice, _ = await connect(broker, "alice")
    await alice.attach("b64")
    serial = await send_presence(alice, "b64", {"action": ENTER, "data": "***", "encoding": "base64"})
    nack = await alice.ack(serial)
    assert nack["action"] == Action.NACK and nack["error"]["code"] == 40013
    bob, _ = await connect(broker, "bob")
    attached = await bob.attach("b64")
    assert not attached["flags"] & Flag.HAS_PRESENCE
    await alice.close()
    await bob.close()


async def test_own_events_are_echoed_without_presence_subscribe_and_despite_echo_false(broker: BrokerProcess) -> None:
    alice, connected = await connect(broker, "alice", echo="false")
    attached = await alice.attach("own", flags=int(Flag.PRESENCE | Flag.PUBLISH))
    assert attached["flags"] & Flag.PRESENCE and not attached["flags"] & Flag.PRESENCE_SUBSCRIBE
    bob, _ = await connect(broker, "bob")
    await bob.attach("own")

    await presence_ok(bob, "own", {"action": ENTER, "data": "bob"})
    await presence_ok(alice, "own", {"action": ENTER, "data": "me"})
    mine = await next_presence(alice, "own")
    assert brief(mine["presence"]) == [(ENTER, "alice", "me")]
    assert mine["presence"][0]["connectionId"] == connected["connectionId"]
    assert not [m for m in alice.skipped if m.get("action") == Action.PRESENCE], "bob's enter is not alice's to see"
    await alice.close()
    await bob.close()


async def test_subscribe_only_attachments_get_no_presence(broker: BrokerProcess) -> None:
    quiet, _ = await connect(broker, "quiet")
    attached = await quiet.attach("modes", flags=int(Flag.SUBSCRIBE))
    assert not attached["flags"] & (Flag.PRESENCE_SUBSCRIBE | Flag.HAS_PRESENCE)
    watcher, _ = await connect(broker, "watcher")
    await watcher.attach("modes", flags=int(Flag.PRESENCE_SUBSCRIBE))
    alice, _ = await connect(broker, "alice")
    await alice.attach("modes")
    await presence_ok(alice, "modes", {"action": ENTER})
    await next_presence(watcher, "modes")
    # A message published after the enter reaches `quiet` after anything the enter would have sent it.
    await alice.ack(await alice.publish("modes", [{"data": "marker"}]))
    await quiet.expect(Action.MESSAGE)
    assert not [m for m in quiet.skipped if m.get("action") in (Action.PRESENCE, Action.SYNC)]
    for c in (quiet, watcher, alice):
        await c.close()


async def test_presence_frames_carry_the_delivered_channel_serial(broker: BrokerProcess) -> None:
    watcher, _ = await connect(broker, "watcher")
    await watcher.attach("serial")
    alice, _ = await connect(broker, "alice")
    await alice.attach("serial")
    await alice.ack(await alice.publish("serial", [{"data": "m"}]))
    message = await watcher.expect(Action.MESSAGE)
    await presence_ok(alice, "serial", {"action": ENTER})
    event = await next_presence(watcher, "serial")
    assert event["channelSerial"] == message["channelSerial"]
    await watcher.close()
    await alice.close()


async def test_no_has_presence_and_no_sync_when_nobody_is_present(broker: BrokerProcess) -> None:
    alice, _ = await connect(broker, "alice")
    attached = await alice.attach("empty")
    assert not attached["flags"] & Flag.HAS_PRESENCE
    await alice.ack(await alice.publish("empty", [{"data": "after-attach"}]))
    await alice.expect(Action.MESSAGE)
    assert not [m for m in alice.skipped if m.get("action") == Action.SYNC]
    await alice.close()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_late_attacher_gets_every_member_in_sync_pages(broker: BrokerProcess, fmt: str) -> None:
    count = 250
    host, host_conn = await connect(broker, fmt=fmt)
    await host.attach("big")
    entered = [{"action": ENTER, "clientId": f"user-{i:03d}", "data": f"d{i}"} for i in range(count)]
    for start in range(0, count, 100):
        await presence_ok(host, "big", *entered[start:start + 100])
    await presence_ok(host, "big", {"action": UPDATE, "clientId": "user-007", "data": "changed"})

    late, _ = await connect(broker, "late", fmt)
    attached = await late.attach("big")
    assert attached["flags"] & Flag.HAS_PRESENCE
    pages = await sync_pages(late, "big")
    assert len(pages) == 3
    sync_ids = {p["channelSerial"].partition(":")[0] for p in pages}
    assert len(sync_ids) == 1 and all(ch.isalnum() or ch in "-_" for ch in sync_ids.pop())
    assert [p["channelSerial"].partition(":")[2] != "" for p in pages] == [True, True, False]
    members = [m for p in pages for m in p["presence"]]
    assert len(members) == count
    assert {m["action"] for m in members} == {PRESENT}
    assert {m["clientId"]: m["data"] for m in members} == {
        f"user-{i:03d}": ("changed" if i == 7 else f"d{i}") for i in range(count)}
    host_id = host_conn["connectionId"]
    by_client = {m["clientId"]: m for m in members}
    assert by_client["user-000"]["id"] == f"{host_id}:0:0"
    assert by_client["user-007"]["id"] == f"{host_id}:3:0", "a member keeps the id of its latest event"
    assert all(m["connectionId"] == host_id and m["timestamp"] for m in members)
    await host.close()
    await late.close()


async def test_sync_without_presence_subscribe_is_not_sent(broker: BrokerProcess) -> None:
    alice, _ = await connect(broker, "alice")
    await alice.attach("nosync")
    await presence_ok(alice, "nosync", {"action": ENTER})
    bob, _ = await connect(broker, "bob")
    attached = await bob.attach("nosync", flags=int(Flag.SUBSCRIBE | Flag.PRESENCE))
    assert not attached["flags"] & Flag.HAS_PRESENCE
    carol, _ = await connect(broker, "carol")
    attached = await carol.attach("nosync")
    assert attached["flags"] & Flag.HAS_PRESENCE
    await sync_pages(carol, "nosync")
    for c in (alice, bob, carol):
        await c.close()


async def test_same_client_id_on_two_connections_is_two_members(broker: BrokerProcess) -> None:
    phone, _ = await connect(broker, "alice")
    laptop, _ = await connect(broker, "alice")
    for c in (phone, laptop):
        await c.attach("devices")
        await presence_ok(c, "devices", {"action": ENTER})
    late, _ = await connect(broker, "late")
    await late.attach("devices")
    members = [m for p in await sync_pages(late, "devices") for m in p["presence"]]
    assert [m["clientId"] for m in members] == ["alice", "alice"]
    assert len({m["connectionId"] for m in members}) == 2
    for c in (phone, laptop, late):
        await c.close()


async def test_detach_and_close_make_members_leave_at_once(broker: BrokerProcess) -> None:
    watcher, _ = await connect(broker, "watcher")
    await watcher.attach("bye")
    alice, alice_conn = await connect(broker, "alice")
    bob, _ = await connect(broker, "bob")
    for c, data in ((alice, "a"), (bob, "b")):
        await c.attach("bye")
        await presence_ok(c, "bye", {"action": ENTER, "data": data})
        await next_presence(watcher, "bye")

    await alice.send({"action": Action.DETACH, "channel": "bye"})
    await alice.expect(Action.DETACHED)
    left = (await next_presence(watcher, "bye", timeout=2.0))["presence"][0]
    assert brief([left]) == [(LEAVE, "alice", "a")]
    assert left["connectionId"] == alice_conn["connectionId"]
    assert not left["id"].startswith(alice_conn["connectionId"]), "a server-made leave is compared by timestamp"

    await bob.send({"action": Action.CLOSE})
    await bob.expect(Action.CLOSED)
    assert brief((await next_presence(watcher, "bye", timeout=2.0))["presence"]) == [(LEAVE, "bob", "b")]
    late, _ = await connect(broker, "late")
    assert not (await late.attach("bye"))["flags"] & Flag.HAS_PRESENCE
    for c in (watcher, alice, late):
        await c.close()


async def test_dropped_connection_leaves_after_the_resume_window_and_not_before(
        short_ttl_broker: BrokerProcess) -> None:
    broker = short_ttl_broker
    watcher, _ = await connect(broker, "watcher")
    await watcher.attach("drop")
    alice, alice_conn = await connect(broker, "alice")
    await alice.attach("drop")
    await presence_ok(alice, "drop", {"action": ENTER, "data": "here"})
    await next_presence(watcher, "drop")

    loop = asyncio.get_running_loop()
    dropped_at = loop.time()
    abort(alice)
    late, _ = await connect(broker, "late")
    assert (await late.attach("drop"))["flags"] & Flag.HAS_PRESENCE, "still a member while resumable"
    assert [m["clientId"] for p in await sync_pages(late, "drop") for m in p["presence"]] == ["alice"]

    left = await next_presence(watcher, "drop", timeout=SHORT_TTL + 5)
    elapsed = loop.time() - dropped_at
    assert brief(left["presence"]) == [(LEAVE, "alice", "here")]
    assert left["presence"][0]["connectionId"] == alice_conn["connectionId"]
    assert elapsed >= SHORT_TTL - 0.1, f"left after {elapsed:.2f}s, before the {SHORT_TTL}s resume window ended"
    await watcher.close()
    await late.close()


async def test_resumed_connection_keeps_its_members(short_ttl_broker: BrokerProcess) -> None:
    broker = short_ttl_broker
    watcher, _ = await connect(broker, "watcher")
    await watcher.attach("keep")
    alice, alice_conn = await connect(broker, "alice")
    bob, _ = await connect(broker, "bob")
    for c in (alice, bob):
        await c.attach("keep")
        await presence_ok(c, "keep", {"action": ENTER, "data": "here"})
        await next_presence(watcher, "keep")
    abort(alice)
    abort(bob)  # bob never resumes: his leave marks the moment alice's window would have closed

    key = alice_conn["connectionDetails"]["connectionKey"]
    again, resumed = await connect(broker, "alice", resume=key)
    assert resumed["connectionId"] == alice_conn["connectionId"] and "error" not in resumed
    reattached = await again.attach("keep")
    assert reattached["flags"] & Flag.HAS_PRESENCE
    assert sorted(m["clientId"] for p in await sync_pages(again, "keep") for m in p["presence"]) == ["alice", "bob"]

    assert brief((await next_presence(watcher, "keep", timeout=SHORT_TTL + 5))["presence"]) == [(LEAVE, "bob", "here")]
    again.msg_serial = alice.msg_serial  # a resumed connection continues its msgSerials
    await presence_ok(again, "keep", {"action": UPDATE, "data": "still here"})
    assert brief((await next_presence(watcher, "keep"))["presence"]) == [(UPDATE, "alice", "still here")]
    late, _ = await connect(broker, "late")
    await late.attach("keep")
    assert [m["clientId"] for p in await sync_pages(late, "keep") for m in p["presence"]] == ["alice"]
    for c in (watcher, again, late):
        await c.close()


async def test_resent_presence_after_resume_is_acked_not_applied_twice(broker: BrokerProcess) -> None:
    watcher, _ = await connect(broker, "watcher")
    await watcher.attach("resend")
    alice, alice_conn = await connect(broker, "alice", "msgpack")
    await alice.attach("resend")
    serial = await presence_ok(alice, "resend", {"action": ENTER, "data": "once"})
    abort(alice)
    again, _ = await connect(broker, "alice", "msgpack", resume=alice_conn["connectionDetails"]["connectionKey"])
    await again.attach("resend")
    await again.send({"action": Action.PRESENCE, "channel": "resend", "msgSerial": serial,
                      "presence": [{"action": ENTER, "data": "once"}]})
    assert (await again.ack(serial))["action"] == Action.ACK
    first = await next_presence(watcher, "resend")
    assert brief(first["presence"]) == [(ENTER, "alice", "once")]
    again.msg_serial = serial + 1
    await presence_ok(again, "resend", {"action": UPDATE, "data": "next"})
    assert brief((await next_presence(watcher, "resend"))["presence"]) == [(UPDATE, "alice", "next")]
    await watcher.close()
    await again.close()


async def test_memory_engine_serves_presence_too(memory_broker: BrokerProcess) -> None:
    alice, _ = await connect(memory_broker, "alice", "msgpack")
    await alice.attach("mem")
    await presence_ok(alice, "mem", {"action": ENTER, "data": "m"})
    raw = await alice.expect(Action.PRESENCE)
    assert brief(raw["presence"]) == [(ENTER, "alice", "m")]
    bob, _ = await connect(memory_broker, "bob", "msgpack")
    assert (await bob.attach("mem"))["flags"] & Flag.HAS_PRESENCE
    assert brief((await sync_pages(bob, "mem"))[0]["presence"]) == [(PRESENT, "alice", "m")]
    await alice.close()
    await bob.close()
