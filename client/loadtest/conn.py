"""One Ably realtime connection for the load generator: connect, attach, publish, presence, resume.

This is deliberately not `client.Realtime`: a load worker holds hundreds of connections in
one process, and a full client's per-frame work (event emitters, message objects, decoding
of every field) would make the worker, not the system under test, the bottleneck. It reads
only what the measurement needs and counts every protocol error by its Ably code.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import msgpack

from broker.protocol.actions import Action

from .frames import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, FrameParser, client_frame, upgrade_request

A_HEARTBEAT, A_ACK, A_NACK, A_CONNECTED, A_DISCONNECTED = 0, 1, 2, 4, 6
A_CLOSED, A_ERROR, A_ATTACHED, A_DETACHED, A_PRESENCE, A_MESSAGE, A_SYNC = 8, 9, 11, 13, 14, 15, 16
assert (A_MESSAGE, A_PRESENCE, A_SYNC) == (Action.MESSAGE, Action.PRESENCE, Action.SYNC)

_json_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_packb = msgpack.Packer(use_bin_type=True).pack


class AblyProtocolError(Exception):
    """A refusal from the server, carrying its Ably error code."""

    def __init__(self, code: int | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Endpoint:
    """Where to connect and how to authenticate (`params` holds key= or accessToken=)."""

    host: str
    port: int
    tls: bool
    fmt: str  # "json" | "msgpack"
    params: dict[str, str]
    verify_tls: bool = True
    timeout: float = 15.0
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)

    def path(self, **extra: str) -> str:
        query = {**self.params, "format": self.fmt, "v": "5", "heartbeats": "true"}
        query.update({k: v for k, v in extra.items() if v})
        return "/?" + urlencode(query)

    def context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        if self.ssl_context is not None:
            return self.ssl_context
        ctx = ssl.create_default_context()
        if not self.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        object.__setattr__(self, "ssl_context", ctx)
        return ctx


OnMessages = Callable[[str, list[dict[str, Any]], int], None]  # channel, messages, receive wall-clock ns
OnPresence = Callable[[str, list[dict[str, Any]], int], None]
OnError = Callable[[int | str], None]


class AblyConnection(FrameParser, asyncio.Protocol):
    """A realtime connection; `connect()` returns once CONNECTED (or raises AblyProtocolError)."""

    def __init__(self, endpoint: Endpoint, *, client_id: str = "", on_error: OnError | None = None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.client_id = client_id
        self.binary = endpoint.fmt == "msgpack"
        self.transport: asyncio.Transport | None = None
        self.connection_id = ""
        self.connection_key = ""
        self.on_messages: OnMessages | None = None
        self.on_presence: OnPresence | None = None
        self.on_error = on_error
        self.on_lost: Callable[[], None] | None = None
        self.channel_serials: dict[str, str] = {}
        self._msg_serial = 0
        self._acks: dict[int, tuple[int, Callable[[int, bool, Any], None]]] = {}  # serial -> (count, callback)
        self._connected: asyncio.Future[dict[str, Any]] | None = None
        self._attaching: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._syncing: dict[str, asyncio.Future[None]] = {}
        self.closed = True

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self, resume: str = "") -> bool:
        """Open the WebSocket and wait for CONNECTED; True when `resume` kept the connection id."""
        loop = asyncio.get_running_loop()
        ep = self.endpoint
        self._connected = loop.create_future()
        self._reset_parser()
        self.binary = ep.fmt == "msgpack"
        previous_id = self.connection_id
        path = ep.path(clientId=self.client_id, resume=resume)
        async with asyncio.timeout(ep.timeout):
            await loop.create_connection(lambda: self, ep.host, ep.port, ssl=ep.context(),
                                         server_hostname=ep.host if ep.tls else None)
            self.transport.write(upgrade_request(ep.host, ep.port, path))  # type: ignore[union-attr]
            pm = await self._connected
        details = pm.get("connectionDetails") or {}
        self.connection_id = pm.get("connectionId", "")
        self.connection_key = details.get("connectionKey") or pm.get("connectionKey", "")
        self.closed = False
        error = pm.get("error")
        if error and self.on_error:
            self.on_error((error or {}).get("code", "connected-error"))
        return bool(resume) and self.connection_id == previous_id

    def _reset_parser(self) -> None:
        FrameParser.__init__(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        failure = AblyProtocolError("transport", f"connection lost: {exc!r}")
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(failure)
        for fut in list(self._attaching.values()) + list(self._syncing.values()):
            if not fut.done():
                fut.set_exception(failure)
        self._attaching.clear()
        self._syncing.clear()
        if self.on_lost:
            self.on_lost()

    def data_received(self, data: bytes) -> None:
        try:
            self.feed(data)
        except ConnectionError as exc:
            if self._connected is not None and not self._connected.done():
                self._connected.set_exception(AblyProtocolError("handshake", str(exc)))
            self.drop()

    def drop(self) -> None:
        """Cut the socket without a CLOSE (as a network failure would): the connection stays resumable."""
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Graceful end: CLOSE, then the socket."""
        if self.transport is not None and not self.transport.is_closing():
            self._send({"action": 7})
            self.transport.write(client_frame(struct.pack("!H", 1000), OP_CLOSE))
            self.transport.close()

    # --- requests ---------------------------------------------------------------------------

    async def attach(self, channel: str, flags: int = 0, channel_serial: str = "") -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._attaching[channel] = fut
        pm: dict[str, Any] = {"action": 10, "channel": channel}
        if flags:
            pm["flags"] = flags
        if channel_serial:
            pm["channelSerial"] = channel_serial
        self._send(pm)
        async with asyncio.timeout(self.endpoint.timeout):
            return await fut

    async def wait_sync(self, channel: str) -> None:
        """Wait until the presence SYNC that followed ATTACHED (HAS_PRESENCE) is complete."""
        fut = self._syncing.get(channel)
        if fut is not None:
            async with asyncio.timeout(self.endpoint.timeout):
                await fut

    def publish(self, channel: str, messages: list[dict[str, Any]],
                on_ack: Callable[[int, bool, Any], None]) -> None:
        """Send a MESSAGE; `on_ack(now_ns, ok, error_or_res)` runs on its ACK or NACK."""
        self._request({"action": A_MESSAGE, "channel": channel, "messages": messages}, len(messages), on_ack)

    def presence(self, channel: str, action: int, data: str,
                 on_ack: Callable[[int, bool, Any], None]) -> None:
        self._request({"action": A_PRESENCE, "channel": channel,
                       "presence": [{"action": action, "clientId": self.client_id, "data": data}]}, 1, on_ack)

    def _request(self, pm: dict[str, Any], count: int, on_ack: Callable[[int, bool, Any], None]) -> None:
        serial = self._msg_serial
        self._msg_serial += 1
        pm["msgSerial"] = serial
        self._acks[serial] = (count, on_ack)
        self._send(pm)

    def fail_pending(self) -> list[Callable[[int, bool, Any], None]]:
        """Forget unacknowledged requests (after a failed resume): returns their callbacks."""
        callbacks = [cb for _, cb in self._acks.values()]
        self._acks.clear()
        return callbacks

    def _send(self, pm: dict[str, Any]) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.binary:
            self.transport.write(client_frame(_packb(pm), OP_BINARY))
        else:
            self.transport.write(client_frame(_json_dumps(pm).encode(), OP_TEXT))

    # --- inbound ----------------------------------------------------------------------------

    def on_payload(self, opcode: int, payload: bytes) -> None:
        now = time.time_ns()
        pm = msgpack.unpackb(payload, raw=False, strict_map_key=False) if self.binary else json.loads(payload)
        action = pm.get("action")
        if action == A_MESSAGE:
            channel = pm.get("channel", "")
            serial = pm.get("channelSerial")
            if serial:
                self.channel_serials[channel] = serial
            if self.on_messages is not None:
                self.on_messages(channel, pm.get("messages") or (), now)
        elif action == A_ACK or action == A_NACK:
            self._acked(pm, action == A_ACK, now)
        elif action == A_PRESENCE or action == A_SYNC:
            channel = pm.get("channel", "")
            if self.on_presence is not None:
                self.on_presence(channel, pm.get("presence") or (), now)
            if action == A_SYNC:
                cursor = (pm.get("channelSerial") or "").partition(":")[2]
                fut = self._syncing.get(channel)
                if not cursor and fut is not None:
                    self._syncing.pop(channel, None)
                    if not fut.done():
                        fut.set_result(None)
        elif action == A_ATTACHED:
            channel = pm.get("channel", "")
            if pm.get("channelSerial"):
                self.channel_serials.setdefault(channel, pm["channelSerial"])
            fut = self._attaching.pop(channel, None)
            if pm.get("flags", 0) & 1 and channel not in self._syncing:  # HAS_PRESENCE: a SYNC follows
                self._syncing[channel] = asyncio.get_running_loop().create_future()
            if fut is not None and not fut.done():
                fut.set_result(pm)
            elif pm.get("error") and self.on_error:
                self.on_error(pm["error"].get("code", "attached-error"))
        elif action == A_CONNECTED:
            if self._connected is not None and not self._connected.done():
                self._connected.set_result(pm)
        elif action in (A_ERROR, A_DISCONNECTED, A_DETACHED, A_CLOSED):
            self._refused(pm, action)
        elif action != A_HEARTBEAT and self.on_error:
            pass  # AUTH and other server actions need no answer from a load client

    def _acked(self, pm: dict[str, Any], ok: bool, now: int) -> None:
        serial, count = pm.get("msgSerial", 0), pm.get("count", 1)
        error = pm.get("error")
        res = pm.get("res") or ()
        for i in range(count):
            entry = self._acks.pop(serial + i, None)
            if entry is not None:
                entry[1](now, ok, error if not ok else (res[i] if i < len(res) else None))

    def _refused(self, pm: dict[str, Any], action: int) -> None:
        error = pm.get("error") or {}
        code = error.get("code", {A_ERROR: "error", A_DISCONNECTED: "disconnected",
                                  A_DETACHED: "detached", A_CLOSED: "closed"}[action])
        failure = AblyProtocolError(code, error.get("message", ""))
        channel = pm.get("channel")
        if channel and channel in self._attaching:
            fut = self._attaching.pop(channel)
            if not fut.done():
                fut.set_exception(failure)
        elif self._connected is not None and not self._connected.done():
            self._connected.set_exception(failure)
        if self.on_error and action != A_CLOSED:
            self.on_error(code)

    def on_control(self, opcode: int, payload: bytes) -> None:
        if self.transport is None:
            return
        if opcode == OP_PING:
            self.transport.write(client_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            self.transport.write(client_frame(payload[:2], OP_CLOSE))
            self.transport.close()
