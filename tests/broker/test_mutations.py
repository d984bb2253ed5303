"""Update, delete and append: live deliveries, late joiners, history, REST, permissions."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from broker.auth import Capability, issue_token, parse_key_spec
from broker.protocol.actions import Action
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

UPDATE, DELETE, APPEND = 1, 2, 5
AI = {"ai": {"transport": {"stream": "true"}}}


async def client(broker: BrokerProcess, fmt: str = "json", **params: str) -> WireClient:
    c = await WireClient.open(broker.ws_url, fmt, **(params or {"key": broker.key}))
    await c.connected()
    return c


async def create(c: WireClient, channel: str, data: str = "", **fields: object) -> str:
    ack = await c.ack(await c.publish(channel, [{"name": "ai-output", "data": data, "extras": AI, **fields}]))
    assert ack["action"] == Action.ACK
    return str(ack["res"][0]["serials"][0])


async def mutate(c: WireClient, channel: str, action: int, serial: str, **fields: object) -> dict[str, object]:
    return await c.ack(await c.publish(channel, [{"action": action, "serial": serial, **fields}]))


async def messages(c: WireClient, n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    while len(out) < n:
        out += (await c.expect(Action.MESSAGE))["messages"]
    return out


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_appends_stream_as_fragments_to_subscribers_that_saw_the_create(broker: BrokerProcess, fmt: str) -> None:
    sub = await client(broker, fmt)
    await sub.attach("s")
    agent = await client(broker, fmt)
    serial = await create(agent, "s")
    versions = []
    for token in ("Hel", "lo", " world"):
        ack = await mutate(agent, "s", APPEND, serial, data=token, extras=AI)
        assert ack["action"] == Action.ACK
        versions.append(ack["res"][0]["serials"][0])
    assert versions == sorted(versions) and versions[0] > serial
    got = await messages(sub, 4)
    assert got[0]["action"] == 0 and got[0]["serial"] == serial
    assert [m["action"] for m in got[1:]] == [APPEND] * 3
    assert [m["data"] for m in got[1:]] == ["Hel", "lo", " world"]
    assert all(m["serial"] == serial and m["name"] == "ai-output" and m["extras"] == AI for m in got[1:])
    assert [m["version"]["serial"] for m in got[1:]] == versions
    assert all(m["timestamp"] == got[0]["timestamp"] for m in got)


async def test_late_joiner_gets_the_whole_message_then_fragments(broker: BrokerProcess) -> None:
    agent = await client(broker)
    serial = await create(agent, "late")
    await mutate(agent, "late", APPEND, serial, data="one ", extras=AI)
    joiner = await client(broker)
    await joiner.attach("late")
    await mutate(agent, "late", APPEND, serial, data="two ", extras=AI)
    await mutate(agent, "late", APPEND, serial, data="three", extras=AI)
    first, second = await messages(joiner, 2)
    assert first["action"] == UPDATE and first["data"] == "one two "
    assert second["action"] == APPEND and second["data"] == "three"
    assert second["version"]["serial"] > first["version"]["serial"]


async def test_history_rewind_and_get_show_the_aggregate(broker: BrokerProcess) -> None:
    agent = await client(broker)
    before = await create(agent, "agg", data="", )
    serial = await create(agent, "agg")
    for token in ("a", "b", "c"):
        await mutate(agent, "agg", APPEND, serial, data=token, extras={"ai": {"status": token}})
    after = await create(agent, "agg", data="plain")
    auth = {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}
    items = httpx.get(f"{broker.http_url}/channels/agg/messages?direction=forwards", headers=auth).json()
    assert [m["serial"] for m in items] == [before, serial, after]
    assert items[1]["action"] == UPDATE and items[1]["data"] == "abc"
    assert items[1]["extras"] == {"ai": {"status": "c"}} and items[1]["name"] == "ai-output"
    assert items[2]["action"] == 0
    one = httpx.get(f"{broker.http_url}/channels/agg/messages/{serial}", headers=auth).json()
    assert one["data"] == "abc" and one["version"]["serial"] > serial
    rewinder = await client(broker)
    await rewinder.attach("agg", params={"rewind": "2"})
    backlog = await messages(rewinder, 2)
    assert [(m["action"], m["data"]) for m in backlog] == [(UPDATE, "abc"), (0, "plain")]
    await mutate(agent, "agg", APPEND, serial, data="d", extras=AI)
    live = await messages(rewinder, 1)
    assert live[0]["action"] == APPEND and live[0]["data"] == "d"


async def test_update_and_delete_apply_a_shallow_mixin(broker: BrokerProcess) -> None:
    sub = await client(broker)
    await sub.attach("ud")
    pub = await client(broker)
    serial = await create(pub, "ud", data="draft", extras={"headers": {"k": "v"}})
    await mutate(pub, "ud", UPDATE, serial, data="final", version={"description": "fix typo"})
    await mutate(pub, "ud", DELETE, serial)
    got = await messages(sub, 3)
    assert got[1]["action"] == UPDATE and got[1]["data"] == "final" and got[1]["extras"] == {"headers": {"k": "v"}}
    assert got[1]["version"]["description"] == "fix typo"
    assert got[2]["action"] == DELETE and got[2]["data"] == "final"
    auth = {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}
    versions = httpx.get(f"{broker.http_url}/channels/ud/messages/{serial}/versions", headers=auth).json()
    assert [(v["action"], v["data"]) for v in versions] == [(0, "draft"), (UPDATE, "final"), (DELETE, "final")]
    url = f"{broker.http_url}/channels/ud/messages/{serial}/versions"
    newest = httpx.get(f"{url}?direction=backwards&limit=1", headers=auth).json()
    assert [v["action"] for v in newest] == [DELETE]
    for bad in ("limit=0", "limit=-1", "limit=1001", "limit=x"):  # the same limit rule as history
        resp = httpx.get(f"{url}?{bad}", headers=auth)
        assert (resp.status_code, resp.json()["error"]["code"]) == (400, 40003), bad


async def test_resume_by_channel_serial_replays_mutations_of_older_messages(broker: BrokerProcess) -> None:
    sub = await client(broker)
    await sub.attach("rs")
    agent = await client(broker)
    serial = await create(agent, "rs")
    await mutate(agent, "rs", APPEND, serial, data="x", extras=AI)
    got = await messages(sub, 2)
    last_cs = got[-1]["version"]["serial"].rpartition(":")[0]  # type: ignore[index]
    await sub.close()
    await mutate(agent, "rs", APPEND, serial, data="y", extras=AI)
    other = await create(agent, "rs", data="new")
    again = await client(broker)
    attached = await again.attach("rs", channelSerial=last_cs)
    assert attached["flags"] & 4  # RESUMED
    replay = await messages(again, 2)
    assert (replay[0]["serial"], replay[0]["action"], replay[0]["data"]) == (serial, UPDATE, "xy")
    assert replay[1]["serial"] == other
    await mutate(agent, "rs", APPEND, serial, data="z", extras=AI)
    live = await messages(again, 1)
    assert live[0]["action"] == APPEND and live[0]["data"] == "z"


async def test_mutation_errors(broker: BrokerProcess) -> None:
    c = await client(broker)
    serial = await create(c, "err", data="text")
    missing = await mutate(c, "err", APPEND, serial[:-3] + "999", data="x")
    assert missing["action"] == Action.NACK and missing["error"]["code"] == 40400  # type: ignore[index]
    no_serial = await c.ack(await c.publish("err", [{"action": APPEND, "data": "x"}]))
    assert no_serial["error"]["code"] == 40003
    wrong_type = await mutate(c, "err", APPEND, serial, data=base64.b64encode(b"\x00").decode(), encoding="base64")
    assert wrong_type["error"]["code"] == 40013  # type: ignore[index]
    two = await c.ack(await c.publish("err", [{"action": APPEND, "serial": serial, "data": "a"},
                                              {"action": APPEND, "serial": serial, "data": "b"}]))
    assert two["error"]["code"] == 40000
    assert (await mutate(c, "err", APPEND, serial, data="x" * 40000))["action"] == Action.ACK
    too_big = await mutate(c, "err", APPEND, serial, data="x" * 40000)  # the aggregate would pass the limit
    assert too_big["action"] == Action.NACK and too_big["error"]["code"] == 40009  # type: ignore[index]


def jwt(broker: BrokerProcess, client_id: str | None, capability: str) -> str:
    key = parse_key_spec(broker.key)
    return issue_token(key, client_id, Capability.parse(capability), 3_600_000, int(time.time() * 1000)).token


async def test_update_own_permits_only_your_own_messages(broker: BrokerProcess) -> None:
    cap = '{"*":["publish","subscribe","message-update-own","message-delete-own"]}'
    alice = await client(broker, accessToken=jwt(broker, "alice", cap))
    bob = await client(broker, accessToken=jwt(broker, "bob", cap))
    serial = await create(alice, "own")
    assert (await mutate(alice, "own", APPEND, serial, data="ok"))["action"] == Action.ACK
    denied = await mutate(bob, "own", APPEND, serial, data="no")
    assert denied["action"] == Action.NACK and denied["error"]["code"] == 40160  # type: ignore[index]
    denied = await mutate(bob, "own", DELETE, serial)
    assert denied["error"]["code"] == 40160  # type: ignore[index]
    anon = await client(broker, accessToken=jwt(broker, None, cap))
    anonymous = await mutate(anon, "own", APPEND, serial, data="no")
    assert anonymous["error"]["code"] == 40166  # type: ignore[index]
    none = await client(broker, accessToken=jwt(broker, "carol", '{"*":["publish","subscribe"]}'))
    assert (await mutate(none, "own", UPDATE, serial, data="no"))["error"]["code"] == 40160  # type: ignore[index]
    any_cap = await client(broker, accessToken=jwt(broker, "mod", '{"*":["message-update-any","publish"]}'))
    assert (await mutate(any_cap, "own", UPDATE, serial, data="moderated"))["action"] == Action.ACK


def test_rest_patch_and_channel_rules(broker_factory: type[BrokerProcess]) -> None:
    broker = broker_factory(extra_args=["--channel-rules", '{"locked": {"mutableMessages": false}}']).start()
    auth = {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}
    serial = httpx.post(f"{broker.http_url}/channels/open:1/messages", headers=auth,
                        json={"data": "a", "extras": {"k": 1}}).json()["serials"][0]
    resp = httpx.patch(f"{broker.http_url}/channels/open:1/messages/{serial}", headers=auth,
                       json={"action": APPEND, "data": "b"})
    assert resp.status_code == 200 and resp.json()["versionSerial"] > serial
    got = httpx.get(f"{broker.http_url}/channels/open:1/messages/{serial}", headers=auth).json()
    assert got["data"] == "ab" and got["extras"] == {"k": 1}
    locked = httpx.post(f"{broker.http_url}/channels/locked:1/messages", headers=auth, json={"data": "a"}).json()
    resp = httpx.patch(f"{broker.http_url}/channels/locked:1/messages/{locked['serials'][0]}", headers=auth,
                       json={"action": UPDATE, "data": "b"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 93002
    missing = httpx.get(f"{broker.http_url}/channels/open:1/messages/{serial[:-3]}999", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 40400
    bad = httpx.patch(f"{broker.http_url}/channels/open:1/messages/{serial}", headers=auth, json=[{"action": 1}])
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 40001


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_pipelined_appends_keep_their_order(broker: BrokerProcess, fmt: str) -> None:
    """Appends sent back to back (the first one loads the message) are stamped in send order."""
    sub = await client(broker, fmt)
    await sub.attach("pipe")
    agent = await client(broker, fmt)
    for round_ in range(5):
        serial = await create(agent, "pipe")
        sent = [await agent.publish("pipe", [{"action": APPEND, "serial": serial, "data": f"{round_}.{i} "}])
                for i in range(40)]
        acks = [await agent.ack(s) for s in sent]
        versions = [a["res"][0]["serials"][0] for a in acks]  # type: ignore[index]
        assert versions == sorted(versions)
        got = await messages(sub, 41)
        assert [m["data"] for m in got[1:]] == [f"{round_}.{i} " for i in range(40)]
