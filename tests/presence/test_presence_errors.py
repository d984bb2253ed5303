"""Presence refusals: each rule answers with its own Ably code, and the connection stays usable."""

from __future__ import annotations

import pytest

from broker.protocol.actions import Action, Flag
from tests.support.broker import BrokerProcess

from .support import (
    ENTER,
    PRESENT,
    connect,
    presence_error,
    presence_ok,
    send_presence,
    token,
)


async def test_anonymous_client_cannot_enter(broker: BrokerProcess) -> None:
    anon, connected = await connect(broker, tok=token(broker, None))
    assert "clientId" not in connected["connectionDetails"]
    await anon.attach("anon")
    assert (await presence_error(anon, "anon", {"action": ENTER}))["code"] == 91000
    error = await presence_error(anon, "anon", {"action": ENTER, "clientId": "someone"})
    assert error["code"] == 40012
    await anon.close()


async def test_identified_client_cannot_enter_as_someone_else(broker: BrokerProcess) -> None:
    alice, _ = await connect(broker, tok=token(broker, "alice"))
    await alice.attach("spoof")
    error = await presence_error(alice, "spoof", {"action": ENTER, "clientId": "mallory"})
    assert (error["code"], error["statusCode"]) == (40012, 400)
    await presence_ok(alice, "spoof", {"action": ENTER, "clientId": "alice"})
    echo = await alice.expect(Action.PRESENCE)
    assert echo["presence"][0]["clientId"] == "alice"
    await alice.close()


@pytest.mark.parametrize("credential", ["key", "wildcard-token"])
async def test_wildcard_credentials_enter_named_clients_only(broker: BrokerProcess, credential: str) -> None:
    tok = token(broker, "*") if credential == "wildcard-token" else None
    agent, _ = await connect(broker, tok=tok)
    await agent.attach("wild")
    assert (await presence_error(agent, "wild", {"action": ENTER}))["code"] == 91000
    await presence_ok(agent, "wild", {"action": ENTER, "clientId": "device-1"},
                      {"action": ENTER, "clientId": "device-2"})
    echo = await agent.expect(Action.PRESENCE)
    assert [m["clientId"] for m in echo["presence"]] == ["device-1", "device-2"]
    error = await presence_error(agent, "wild", {"action": ENTER, "clientId": "*"})
    assert error["code"] == 40012
    await agent.close()


async def test_capability_without_presence_is_refused_40160(broker: BrokerProcess) -> None:
    reader, _ = await connect(broker, tok=token(broker, "reader", '{"watch":["subscribe"]}'))
    attached = await reader.attach("watch")
    assert attached["flags"] & Flag.PRESENCE_SUBSCRIBE and not attached["flags"] & Flag.PRESENCE
    error = await presence_error(reader, "watch", {"action": ENTER})
    assert (error["code"], error["statusCode"]) == (40160, 401)
    await reader.close()


async def test_presence_mode_not_requested_is_refused_40165(broker: BrokerProcess) -> None:
    alice, _ = await connect(broker, "alice")
    attached = await alice.attach("modeless", flags=int(Flag.SUBSCRIBE | Flag.PRESENCE_SUBSCRIBE))
    assert not attached["flags"] & Flag.PRESENCE
    error = await presence_error(alice, "modeless", {"action": ENTER})
    assert (error["code"], error["statusCode"]) == (40165, 401)
    await alice.close()


async def test_presence_on_a_channel_not_attached_is_refused(broker: BrokerProcess) -> None:
    alice, _ = await connect(broker, "alice")
    assert (await presence_error(alice, "nowhere", {"action": ENTER}))["code"] == 91001
    assert (await presence_error(alice, "", {"action": ENTER}))["code"] == 40010
    await alice.close()


async def test_malformed_presence_is_nacked_and_the_connection_carries_on(broker: BrokerProcess) -> None:
    alice, _ = await connect(broker, "alice")
    await alice.attach("bad")
    assert (await presence_error(alice, "bad", {"action": PRESENT}))["code"] == 40000
    assert (await presence_error(alice, "bad", {"action": 9}))["code"] == 40000
    assert (await presence_error(alice, "bad", {"action": ENTER, "extras": "x"}))["code"] == 40000
    assert (await presence_error(alice, "bad", "not-an-object"))["code"] == 40000  # type: ignore[arg-type]
    await alice.send({"action": Action.PRESENCE, "channel": "bad", "msgSerial": alice.msg_serial, "presence": []})
    alice.msg_serial += 1
    assert (await alice.ack(alice.msg_serial - 1))["error"]["code"] == 40000
    too_big = await presence_error(alice, "bad", {"action": ENTER, "data": "x" * 70_000})
    assert (too_big["code"], too_big["statusCode"]) == (40009, 413)

    serial = await send_presence(alice, "bad", {"action": ENTER, "data": "fine"})
    assert (await alice.ack(serial))["action"] == Action.ACK
    echo = await alice.expect(Action.PRESENCE)
    assert echo["presence"][0]["data"] == "fine"
    bob, _ = await connect(broker, "bob")
    await bob.attach("bad")
    assert [m["data"] for m in (await bob.expect(Action.SYNC))["presence"]] == ["fine"]
    await alice.close()
    await bob.close()
