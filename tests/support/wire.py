"""A raw protocol driver for broker tests: exact frames in, exact frames out, every wait bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from broker.protocol.actions import Action

TIMEOUT = 5.0


class WireClient:
    def __init__(self, ws: ClientConnection, fmt: str) -> None:
        self.ws = ws
        self.fmt = fmt
        self.msg_serial = 0
        self.skipped: list[dict[str, Any]] = []
        self.answers: dict[int, dict[str, Any]] = {}  # per-msgSerial ACK/NACK not yet asked for

    @classmethod
    async def open(cls, url: str, fmt: str = "json", **params: str) -> WireClient:
        query = "&".join(f"{k}={v}" for k, v in {"format": fmt, "v": "6", **params}.items())
        ws = await asyncio.wait_for(connect(f"{url}/?{query}", compression=None, max_size=None), TIMEOUT)
        return cls(ws, fmt)

    async def send(self, obj: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(obj) if self.fmt == "json" else msgpack.packb(obj, use_bin_type=True))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        if self.fmt == "json":
            assert isinstance(data, str), "JSON connections must get text frames"
            return json.loads(data)
        assert isinstance(data, bytes), "msgpack connections must get binary frames"
        return msgpack.unpackb(data, raw=False)

    async def expect(self, action: int, pred: Callable[[dict[str, Any]], bool] = lambda m: True,
                     timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame with `action`; frames passed over wait in `skipped` for a later expect."""
        for i, msg in enumerate(self.skipped):
            if msg.get("action") == action and pred(msg):
                return self.skipped.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.01, deadline - loop.time()))
            if msg.get("action") == action and pred(msg):
                return msg
            self.skipped.append(msg)

    async def connected(self) -> dict[str, Any]:
        return await self.expect(Action.CONNECTED)

    async def attach(self, channel: str, **fields: Any) -> dict[str, Any]:
        await self.send({"action": Action.ATTACH, "channel": channel, **fields})
        return await self.expect(Action.ATTACHED, lambda m: m.get("channel") == channel)

    async def publish(self, channel: str, messages: list[dict[str, Any]], **fields: Any) -> int:
        serial = self.msg_serial
        self.msg_serial += 1
        await self.send({"action": Action.MESSAGE, "channel": channel, "msgSerial": serial,
                         "messages": messages, **fields})
        return serial

    async def ack(self, msg_serial: int) -> dict[str, Any]:
        """The answer for `msg_serial`, as if it had its own ACK/NACK (one frame may cover many)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while msg_serial not in self.answers:
            msg = await self.recv(max(0.01, deadline - loop.time()))
            if msg.get("action") in (Action.ACK, Action.NACK):
                for i in range(msg["count"]):
                    answer = {"action": msg["action"], "msgSerial": msg["msgSerial"] + i, "count": 1}
                    if msg["action"] == Action.ACK:
                        answer["res"] = [msg["res"][i]]
                    else:
                        answer["error"] = msg["error"]
                    self.answers[msg["msgSerial"] + i] = answer
            else:
                self.skipped.append(msg)
        return self.answers.pop(msg_serial)

    async def close(self) -> None:
        await self.ws.close()
