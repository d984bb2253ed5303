"""Presence test helpers: clients by identity, PRESENCE sends and the frames that answer them."""

from __future__ import annotations

import time
from typing import Any

from broker.auth import Capability, issue_token, parse_key_spec
from broker.protocol.actions import Action
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

SHORT_TTL = 2.0
ENTER, LEAVE, UPDATE, PRESENT = 2, 3, 4, 1


def token(broker: BrokerProcess, client_id: str | None, capability: str = '{"*":["*"]}') -> str:
    return issue_token(parse_key_spec(broker.key), client_id, Capability.parse(capability), 3_600_000,
                       time.time_ns() // 1_000_000).token


async def connect(broker: BrokerProcess, client_id: str | None = None, fmt: str = "json", *,
                  tok: str | None = None, **params: str) -> tuple[WireClient, dict[str, Any]]:
    """A connected WireClient (key auth unless `tok`), and its CONNECTED message."""
    if client_id is not None:
        params["clientId"] = client_id
    auth = {"accessToken": tok} if tok is not None else {"key": broker.key}
    client = await WireClient.open(broker.ws_url, fmt, **auth, **params)
    return client, await client.connected()


async def send_presence(client: WireClient, channel: str, *items: dict[str, Any]) -> int:
    """One PRESENCE ProtocolMessage; returns its msgSerial."""
    serial = client.msg_serial
    client.msg_serial += 1
    await client.send({"action": Action.PRESENCE, "channel": channel, "msgSerial": serial, "presence": list(items)})
    return serial


async def presence_ok(client: WireClient, channel: str, *items: dict[str, Any]) -> int:
    serial = await send_presence(client, channel, *items)
    ack = await client.ack(serial)
    assert ack["action"] == Action.ACK, ack
    return serial


async def presence_error(client: WireClient, channel: str, *items: dict[str, Any]) -> dict[str, Any]:
    """The error of the NACK that answers this PRESENCE."""
    ack = await client.ack(await send_presence(client, channel, *items))
    assert ack["action"] == Action.NACK, ack
    return ack["error"]  # type: ignore[no-any-return]


async def next_presence(client: WireClient, channel: str, timeout: float = 5.0) -> dict[str, Any]:
    return await client.expect(Action.PRESENCE, lambda m: m.get("channel") == channel, timeout)


async def sync_pages(client: WireClient, channel: str) -> list[dict[str, Any]]:
    """SYNC frames up to and including the one with an empty cursor."""
    pages = []
    while True:
        page = await client.expect(Action.SYNC, lambda m: m.get("channel") == channel)
        pages.append(page)
        if page["channelSerial"].partition(":")[2] == "":
            return pages


def abort(client: WireClient) -> None:
    """Kill the socket with no close frame, as a network failure would."""
    client.ws.transport.abort()


def brief(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(m["action"], m.get("clientId"), m.get("data")) for m in items]
