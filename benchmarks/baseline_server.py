"""The raw baseline: a websockets 15 broadcast server speaking the benchmark's slice of Ably.

It answers CONNECTED / ATTACHED / ACK so the load generator drives it exactly as it drives
the broker, but does nothing else: no auth, no persistence, no per-subscriber state. Messages
published in one event-loop iteration are stamped, encoded ONCE into a msgpack MESSAGE frame
of the broker's shape, and written to every subscriber with `websockets.broadcast` (the
coalescing the broker does too); the publisher's ACKs follow. This is the fastest fan-out
the websockets library allows, which makes it the yardstick for the broker's hot path.

Run: python -m benchmarks.baseline_server --port 8090
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgpack
import uvloop
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

from broker.protocol.actions import Action, Flag

EPOCH = "baseline"


class Hub:
    """One channel's subscribers plus the publishes queued in the current loop iteration."""

    def __init__(self) -> None:
        self.subscribers: dict[str, dict[ServerConnection, None]] = {}
        self.pending: list[tuple[ServerConnection, str, dict[str, Any]]] = []
        self.scheduled = False
        self.seq = 0

    def publish(self, ws: ServerConnection, conn_id: str, pm: dict[str, Any]) -> None:
        self.pending.append((ws, conn_id, pm))
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        pending, self.pending = self.pending, []
        by_channel: dict[str, list[dict[str, Any]]] = {}
        acks: dict[ServerConnection, list[tuple[int, list[str]]]] = {}
        now_ms = int(time.time() * 1000)
        for ws, conn_id, pm in pending:
            self.seq += 1
            position = f"{now_ms:014d}-{self.seq % 1000:03d}@{EPOCH}"
            serials = []
            out = by_channel.setdefault(pm["channel"], [])
            for idx, m in enumerate(pm.get("messages") or ()):
                serial = f"{position}:{idx:03d}"
                serials.append(serial)
                out.append({"id": f"{conn_id}:{pm['msgSerial']}:{idx}", "connectionId": conn_id,
                            "timestamp": now_ms, "serial": serial, **m})
            acks.setdefault(ws, []).append((pm["msgSerial"], serials))
        for channel, messages in by_channel.items():
            frame = msgpack.packb({"action": int(Action.MESSAGE), "channel": channel, "id": messages[0]["id"],
                                   "connectionId": messages[0]["connectionId"], "timestamp": now_ms,
                                   "channelSerial": messages[-1]["serial"].rsplit(":", 1)[0],
                                   "messages": messages})
            broadcast(self.subscribers.get(channel, {}), frame)
        for ws, done in acks.items():
            broadcast([ws], msgpack.packb({"action": int(Action.ACK), "msgSerial": done[0][0], "count": len(done),
                                           "res": [{"serials": s} for _, s in done]}))


def _health(connection: ServerConnection, request: Request) -> Response | None:
    if request.path == "/healthz":
        return connection.respond(HTTPStatus.OK, "ok\n")
    return None


async def _handle(ws: ServerConnection, hub: Hub, ids: itertools.count[int]) -> None:
    assert ws.request is not None
    query = parse_qs(urlsplit(ws.request.path).query)
    echo = query.get("echo", ["true"])[0] != "false"
    conn_id = f"base{next(ids)}"
    attached: list[str] = []
    await ws.send(msgpack.packb({
        "action": int(Action.CONNECTED), "connectionId": conn_id,
        "connectionDetails": {"connectionKey": f"{conn_id}!k", "maxMessageSize": 65536, "maxFrameSize": 524288,
                              "connectionStateTtl": 120000, "maxIdleInterval": 15000, "serverId": "baseline"}}))
    try:
        async for raw in ws:
            pm = msgpack.unpackb(raw)
            action = pm.get("action")
            if action == Action.MESSAGE:
                hub.publish(ws, conn_id, pm)
            elif action == Action.ATTACH:
                channel = pm["channel"]
                if echo:
                    hub.subscribers.setdefault(channel, {})[ws] = None
                attached.append(channel)
                await ws.send(msgpack.packb({"action": int(Action.ATTACHED), "channel": channel,
                                             "flags": int(Flag.PUBLISH | Flag.SUBSCRIBE),
                                             "channelSerial": f"{0:014d}-000@{EPOCH}"}))
            elif action == Action.HEARTBEAT and "id" in pm:
                await ws.send(msgpack.packb({"action": int(Action.HEARTBEAT), "id": pm["id"]}))
            elif action == Action.CLOSE:
                await ws.send(msgpack.packb({"action": int(Action.CLOSED)}))
                break
    finally:
        for channel in attached:
            hub.subscribers.get(channel, {}).pop(ws, None)


async def run(host: str, port: int) -> None:
    hub = Hub()
    ids = itertools.count()
    server: Server
    async with serve(lambda ws: _handle(ws, hub, ids), host, port, process_request=_health,
                     compression=None, max_size=1 << 20) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    uvloop.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
