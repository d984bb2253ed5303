"""Sans-IO WebSocket client framing, lean enough for a load generator.

A load worker receives tens of thousands of frames per second per core; a full WebSocket
library spends tens of microseconds on each. `FrameParser.feed` finds frame boundaries in
the received bytes and hands complete payloads to `on_payload`, and `client_frame` builds a
masked client frame with an all-zero masking key (valid on the wire, and it spares a
masking pass). The same parser runs under asyncio or on a gevent socket, so the two can be
measured against each other (benchmarks/load_stacks.py).
"""

from __future__ import annotations

import base64
import os
import struct

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


def upgrade_request(host: str, port: int, path: str) -> bytes:
    """The HTTP/1.1 upgrade request that opens a WebSocket on `path`."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


class HandshakeError(ConnectionError):
    """The server answered the upgrade with something other than 101."""


class FrameParser:
    """Splits a byte stream into WebSocket messages: the upgrade response first, then frames.

    Subclasses implement `on_payload(opcode, payload)` for text/binary messages and
    `on_control(opcode, payload)` for ping and close; `on_open()` runs once the upgrade is done.
    """

    def __init__(self) -> None:
        self._handshake: bytearray | None = bytearray()
        self._buf = bytearray()
        self._need = 0
        self._fragments: list[bytes] = []
        self._frag_opcode = 0

    def feed(self, data: bytes) -> None:
        if self._handshake is not None:
            self._handshake += data
            end = self._handshake.find(b"\r\n\r\n")
            if end < 0:
                if len(self._handshake) > 65536:
                    raise HandshakeError("upgrade response too long")
                return
            head, data = bytes(self._handshake[:end]), bytes(self._handshake[end + 4:])
            self._handshake = None
            if not head.startswith(b"HTTP/1.1 101"):
                raise HandshakeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
            self.on_open()
            if not data:
                return
        buf: bytes | bytearray = data
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return
            buf, self._buf = self._buf, bytearray()
        self._need = 0
        pos, n = 0, len(buf)
        while n - pos >= 2:
            length = buf[pos + 1] & 0x7F
            hdr = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hdr = 10
            end = pos + hdr + length
            if end > n:
                self._need = end - pos
                break
            self._frame(buf[pos], bytes(buf[pos + hdr:end]))
            pos = end
        if pos < n:
            self._buf += buf[pos:]

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        if opcode in (OP_BINARY, OP_TEXT):
            if fin:
                self.on_payload(opcode, payload)
            else:
                self._frag_opcode = opcode
                self._fragments = [payload]
        elif opcode == OP_CONT:
            self._fragments.append(payload)
            if fin:
                whole = b"".join(self._fragments)
                self._fragments = []
                self.on_payload(self._frag_opcode, whole)
        else:
            self.on_control(opcode, payload)

    def on_open(self) -> None:
        """The upgrade succeeded."""

    def on_payload(self, opcode: int, payload: bytes) -> None:
        raise NotImplementedError

    def on_control(self, opcode: int, payload: bytes) -> None:
        raise NotImplementedError
