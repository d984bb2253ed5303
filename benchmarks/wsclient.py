"""A minimal WebSocket client protocol for load generation.

A full client library spends tens of microseconds per received frame (generator-based
parser, message queue, a task switch per `recv()`); a benchmark that receives a million
frames per second on a 2-core machine cannot afford that. This protocol parses frame
headers straight out of `data_received` and hands the subclass `(buffer, start, end)`
so it can count or decode a payload without copying it. Client frames use an all-zero
masking key: valid on the wire, and it spares the load generator a masking pass.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_ZERO_MASK = b"\x00\x00\x00\x00"


def client_frame(payload: bytes, opcode: int = OP_BINARY) -> bytes:
    """One final, masked client frame carrying `payload`."""
    n = len(payload)
    b0 = 0x80 | opcode
    if n < 126:
        header = bytes((b0, 0x80 | n))
    elif n < 65536:
        header = struct.pack("!BBH", b0, 0xFE, n)
    else:
        header = struct.pack("!BBQ", b0, 0xFF, n)
    return header + _ZERO_MASK + payload


class WsClient(asyncio.Protocol):
    """Opens a WebSocket on `path`, then calls `on_message(buf, start, end, now_ns)` per message."""

    def __init__(self, host: str, port: int, path: str) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self._handshake = bytearray()
        self._buf = bytearray()
        self._need = 0
        self._fragments: list[bytes] = []
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not a subclass
        transport.write(self._request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.on_closed()

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self._handshake += data
            end = self._handshake.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = bytes(self._handshake[:end]), bytes(self._handshake[end + 4:])
            self._handshake.clear()
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace")))
                self.abort()
                return
            self.opened.set_result(None)
            if not data:
                return
        self._feed(data, time.monotonic_ns())

    def _feed(self, data: bytes | bytearray, now_ns: int) -> None:
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return
            data, self._buf = self._buf, bytearray()
        self._need = 0
        pos, n = 0, len(data)
        while n - pos >= 2:
            length = data[pos + 1] & 0x7F
            hdr = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                hdr = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2:pos + 10], "big")
                hdr = 10
            end = pos + hdr + length
            if end > n:
                self._need = end - pos
                break
            self._frame(data[pos], data, pos + hdr, end, now_ns)
            pos = end
        if pos < n:
            self._buf += data[pos:]

    def _frame(self, b0: int, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        if opcode in (OP_BINARY, OP_TEXT) and fin and not self._fragments:
            self.on_message(data, start, end, now_ns)
        elif opcode in (OP_BINARY, OP_TEXT, OP_CONT):
            self._fragments.append(bytes(data[start:end]))
            if fin:
                whole = b"".join(self._fragments)
                self._fragments.clear()
                self.on_message(whole, 0, len(whole), now_ns)
        elif opcode == OP_PING:
            self.write(client_frame(bytes(data[start:end]), OP_PONG))
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(data[start:start + 2], "big") if end - start >= 2 else 1005
            self.write(client_frame(bytes(data[start:start + 2]), OP_CLOSE))
            self.abort()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        """Send a normal close frame and drop the socket without waiting for the echo."""
        self.write(client_frame(struct.pack("!H", 1000), OP_CLOSE))
        self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def on_message(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        raise NotImplementedError

    def on_closed(self) -> None:
        """Hook for subclasses: the socket is gone."""
