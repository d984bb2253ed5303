"""One WebSocket to the server: websockets' Sans-I/O protocol driven by an asyncio Protocol.

Frames are handed to the realtime layer straight from `data_received`, with no queue and no
task switch in between: one token of a streamed reply costs one callback, not three.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidState, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from ..errors import AblyError, disconnected
from ..tls import tls_context
from ..wire import Format, pack, unpack

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024 * 1024
CLOSE_TIMEOUT = 1.0  # how long a polite close may wait for the server's side

Handler = Callable[[dict[str, Any]], None]


class Transport(asyncio.Protocol):
    """Frames go out in the order `send` was called; each inbound frame is handed to `on_frame`.

    `on_frame` runs synchronously as bytes arrive, so protocol handling sees frames strictly in
    order and never awaits; it can end the transport with `finish()`. Frames that arrive before
    `run()` (CONNECTED can share a segment with the handshake response) wait for it.
    """

    def __init__(self, ws: ClientProtocol, fmt: Format, on_frame: Handler) -> None:
        self._ws = ws
        self._fmt = fmt
        self._on_frame = on_frame
        self._loop = asyncio.get_running_loop()
        self._socket: asyncio.Transport | None = None
        self._opened: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._early: list[dict[str, Any]] | None = []  # frames before run(); None once running
        self._fragments: list[bytes] = []
        self._text = False  # the opcode of the message being received (continuations inherit it)
        self._last_activity = self._loop.time()
        self._idle_timeout: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._finished = False
        self.reason: AblyError | None = None

    @classmethod
    async def open(cls, url: str, fmt: Format, timeout: float, on_frame: Handler) -> Transport:
        """Open the socket and complete the handshake, or raise AblyError 80003 (retry later)."""
        loop = asyncio.get_running_loop()
        transport: Transport | None = None
        try:
            uri = parse_uri(url)
            async with asyncio.timeout(timeout):
                _, transport = await loop.create_connection(
                    lambda: cls(ClientProtocol(uri, max_size=MAX_FRAME), fmt, on_frame), uri.host, uri.port,
                    ssl=tls_context() if uri.secure else None)
                await transport._opened
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            if transport is not None and transport._socket is not None:
                transport._socket.abort()
            raise disconnected(f"Unable to open a WebSocket: {str(exc) or type(exc).__name__}") from exc
        return transport

    # --- outbound ------------------------------------------------------------------------

    def send(self, frame: dict[str, Any]) -> None:
        if self._finished:
            return
        data = pack(frame, self._fmt)
        if isinstance(data, str):
            self._ws.send_text(data.encode())
        else:
            self._ws.send_binary(data)
        self._flush()

    def _flush(self) -> None:
        socket = self._socket
        if socket is None:
            return
        for data in self._ws.data_to_send():
            if socket.is_closing():
                return
            if data:
                socket.write(data)
            elif socket.can_write_eof():
                socket.write_eof()

    # --- lifetime ------------------------------------------------------------------------

    def set_idle_timeout(self, seconds: float | None) -> None:
        """Abort when nothing arrives for `seconds` (any frame, heartbeats included, counts)."""
        self._idle_timeout = seconds
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if seconds:
            self._idle_timer = self._loop.call_at(self._last_activity + seconds, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._idle_timeout is None or self._finished:
            return
        due = self._last_activity + self._idle_timeout
        if self._loop.time() >= due:
            self.abort(disconnected(f"No activity from the server for {self._idle_timeout:g}s"))
        else:
            self._idle_timer = self._loop.call_at(due, self._check_idle)

    def finish(self, reason: AblyError | None = None) -> None:
        """Stop handling frames and close politely; `run()` returns once the socket is gone."""
        if self._finished:
            return
        self._finished = True
        self.reason = reason
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            self._ws.send_close()
            self._flush()
        except InvalidState:
            pass
        if self._socket is not None and not self._lost.done():
            self._loop.call_later(CLOSE_TIMEOUT, self._socket.abort)

    def abort(self, reason: AblyError) -> None:
        """Drop the socket now, without a closing handshake (it may be dead)."""
        self.finish(reason)
        if self._socket is not None:
            self._socket.abort()

    async def run(self) -> AblyError | None:
        """Handle frames until the socket ends; returns why it ended (None = finished cleanly)."""
        early, self._early = self._early or [], None
        for pm in early:
            self._dispatch(pm)
        if self._ws.close_expected() or self._lost.done():
            self._server_closed()
        await asyncio.shield(self._lost)
        return self.reason

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._socket = cast(asyncio.Transport, transport)  # uvloop's TCPTransport is not a subclass
        self._ws.send_request(self._ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._last_activity = self._loop.time()
        self._ws.receive_data(data)
        self._pump()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._pump()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._opened.done():
            self._opened.set_exception(exc or ConnectionResetError("Connection closed during the handshake"))
        if not self._lost.done():
            self._lost.set_result(None)
        self._server_closed()

    # --- inbound -------------------------------------------------------------------------

    def _pump(self) -> None:
        for event in self._ws.events_received():
            if isinstance(event, Response):
                self._handshake_done()
            elif isinstance(event, Frame):
                self._frame(event)
        self._flush()
        if self._ws.close_expected():
            self._server_closed()

    def _server_closed(self) -> None:
        """The server ended the connection; frames it sent first are handled first."""
        if not self._finished and self._early is None:
            self.finish(disconnected("Connection to the server closed"))

    def _handshake_done(self) -> None:
        if self._opened.done():
            return
        if self._ws.handshake_exc is not None:
            self._opened.set_exception(self._ws.handshake_exc)
        else:
            self._opened.set_result(None)

    def _frame(self, frame: Frame) -> None:
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT) or self._finished:
            return
        if frame.opcode is not Opcode.CONT:
            self._text = frame.opcode is Opcode.TEXT
        if not frame.fin or self._fragments:
            self._fragments.append(bytes(frame.data))
            if not frame.fin:
                return
            data = b"".join(self._fragments)
            self._fragments = []
        else:
            data = bytes(frame.data)
        try:
            pm = unpack(data.decode() if self._text else data, self._fmt)
        except AblyError as exc:
            log.error("Discarding a malformed frame from the server: %s", exc)
            return
        if not isinstance(pm, dict):
            log.error("Discarding a frame that is not a ProtocolMessage: %r", pm)
            return
        if self._early is not None:
            self._early.append(pm)
        else:
            self._dispatch(pm)

    def _dispatch(self, pm: dict[str, Any]) -> None:
        if self._finished:
            return
        try:
            self._on_frame(pm)
        except Exception:
            log.exception("Error handling %r frame", pm.get("action"))
