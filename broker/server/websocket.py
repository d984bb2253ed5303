"""A realtime transport: websockets' Sans-I/O protocol driven by an asyncio Protocol's bytes."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from websockets import http11
from websockets.exceptions import InvalidState
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from ..protocol.actions import Action
from ..protocol.errors import AblyError
from ..protocol.wire import Format, decode_frame, encode, parse_format

if TYPE_CHECKING:
    from ..realtime.connection import Connection
    from .app import Broker

log = logging.getLogger("broker.ws")

# Tokens travel in the upgrade's query string and Ably allows them up to 128 KiB; this is the
# knob websockets documents as WEBSOCKETS_MAX_LINE_LENGTH (8 KiB by default).
MAX_REQUEST_LINE = 256 * 1024
http11.MAX_LINE_LENGTH = max(http11.MAX_LINE_LENGTH, MAX_REQUEST_LINE)
MAX_HEADERS = http11.MAX_NUM_HEADERS
OVERFLOW_GRACE = 5.0


def frame(payload: bytes, fmt: Format) -> bytes:
    """An unmasked server frame: built once, written to every subscriber of that format."""
    opcode = Opcode.TEXT if fmt is Format.JSON else Opcode.BINARY
    return Frame(opcode, payload).serialize(mask=False)


class WebSocketSession:
    """Moves bytes between a socket and a realtime Connection. Implements realtime.Transport."""

    def __init__(self, broker: Broker, transport: asyncio.Transport, raw_request: bytes) -> None:
        self.broker = broker
        self.transport = transport
        self.fmt = Format.JSON
        self.connection: Connection | None = None
        self.last_send = broker.clock()
        self._fragments: list[bytes] = []
        self._closed = False
        # Flow control: the transport pauses us once its buffer passes half the limit (a
        # catch-up replay then waits in `drained`) and resumes us below an eighth. Only a
        # paused client can be over the limit, so only then does a write ask the buffer's size.
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        transport.set_write_buffer_limits(high=broker.config.outbound_buffer_limit // 2)
        # A frame's deadline: bytes received after the upgrade request against the wire size of
        # the frames they completed (client frames are masked, lengths minimally encoded, and no
        # extension is negotiated, so a frame's payload is what was sent).
        self._received = len(raw_request) - raw_request.index(b"\r\n\r\n") - 4
        self._consumed = 0
        self._text = False
        self._partial_deadline: asyncio.TimerHandle | None = None
        self.ws = ServerProtocol(max_size=broker.config.max_frame_size)
        self.ws.receive_data(raw_request)
        self._pump()
        self._watch_partial()

    # -- Transport (used by the realtime layer) ------------------------------------------

    def send(self, obj: dict[str, Any]) -> None:
        self.write_frame(frame(encode(obj, self.fmt), self.fmt))

    def write_frame(self, data: bytes) -> None:
        if self._closed:
            return
        self.transport.write(data)
        self.broker.metrics.bytes_out += len(data)
        self.last_send = self.broker.clock()
        if self._paused and self.transport.get_write_buffer_size() > self.broker.config.outbound_buffer_limit:
            self._overflow(f"outbound buffer over {self.broker.config.outbound_buffer_limit} bytes")

    async def drained(self) -> bool:
        """Wait until the client has read enough for more replay; False once the socket is closing.

        A client that does not drain within OVERFLOW_GRACE is cut off as a slow consumer, so a
        replay never holds its backlog for a client that stopped reading."""
        while self._paused and not self._closed:
            waiter = self.broker.loop.create_future()
            self._drain_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, OVERFLOW_GRACE)
            except TimeoutError:
                self._overflow(f"did not drain below {self.broker.config.outbound_buffer_limit // 8} bytes "
                               f"within {OVERFLOW_GRACE:g}s of catch-up")
        return not self._closed

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drainers()

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake_drainers()
        try:
            self.ws.send_close()
            self._flush_ws()
        except InvalidState:
            pass
        self.transport.close()

    def goodbye(self, error: AblyError) -> None:
        """Graceful shutdown: DISCONNECTED and a close frame, then a half-close.

        The broker stopped reading when shutdown began, so the client's last frames may sit
        unread in the kernel; closing the socket then would send a TCP RST, and the client
        would drop the DISCONNECTED still in flight. Instead the write side ends with a FIN,
        reading resumes only to discard (nothing is handled after `_closed`), and the socket
        closes when the client closes its side, or is aborted after the grace period.
        """
        if self._closed:
            return
        self.send({"action": Action.DISCONNECTED, "error": error.to_wire()})
        self._closed = True
        self._wake_drainers()
        try:
            self.ws.send_close()
            self._flush_ws()
        except InvalidState:
            pass
        if self.transport.is_closing():
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.transport.resume_reading()
        else:
            self.transport.close()
        self.broker.loop.call_later(OVERFLOW_GRACE, self.transport.abort)

    # -- bytes in -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        self.ws.receive_data(data)
        self._pump()
        self._watch_partial()

    def _watch_partial(self) -> None:
        """A frame (or fragmented message) once started must complete within the frame timeout."""
        partial = self._received > self._consumed or bool(self._fragments)
        if not partial or self._closed:
            if self._partial_deadline is not None:
                self._partial_deadline.cancel()
                self._partial_deadline = None
        elif self._partial_deadline is None:
            self._partial_deadline = self.broker.loop.call_later(self.broker.config.frame_timeout_ms / 1000,
                                                                 self._frame_timed_out)

    def _frame_timed_out(self) -> None:
        self._partial_deadline = None
        if self._closed:
            return
        log.info("connection %s: a frame was not completed within %gs, disconnecting",
                 self.connection.id if self.connection else "-", self.broker.config.frame_timeout_ms / 1000)
        self._fail(AblyError(80003, 408, "Disconnected: a WebSocket frame was not completed in time"),
                   CloseCode.POLICY_VIOLATION, resumable=True)

    def connection_lost(self) -> None:
        if self._partial_deadline is not None:
            self._partial_deadline.cancel()
            self._partial_deadline = None
        self._closed = True
        self._wake_drainers()
        if self.connection is not None:
            self.broker.realtime.transport_lost(self.connection, self)
            self.connection = None

    def _pump(self) -> None:
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
            if self._closed:
                break
        self._flush_ws()
        if self.ws.close_expected() and not self._closed:
            self._closed = True
            self.transport.close()

    def _flush_ws(self) -> None:
        for data in self.ws.data_to_send():
            if self.transport.is_closing():
                return
            if data:
                self.transport.write(data)
            else:
                self.transport.write_eof() if self.transport.can_write_eof() else self.transport.close()

    def _handshake(self, request: Request) -> None:
        response = self.ws.accept(request)
        response.headers["Server"] = "tether"
        self.ws.send_response(response)
        self._flush_ws()
        if response.status_code != 101:
            return
        query = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
        try:
            self.fmt = parse_format(query.get("format"))
        except AblyError:
            self.fmt = Format.JSON  # `connect` refuses the format with an ERROR, which goes out in JSON
        self.connection = self.broker.realtime.connect(self, query)

    def _frame(self, event: Frame) -> None:
        self._consumed += _wire_size(event)
        if event.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._text = event.opcode is Opcode.TEXT
        if event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            self._fragments.append(bytes(event.data))
            if not event.fin:
                return
            data = b"".join(self._fragments)
            self._fragments = []
            if not self._text:
                self._message(data)
                return
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._fail(AblyError(40000, 400, f"A text frame is not valid UTF-8 (byte {exc.start})"),
                           CloseCode.INVALID_DATA)
                return
            self._message(text)

    def _message(self, data: bytes | str) -> None:
        if self.connection is None or self._closed:
            return  # nothing is handled once this side has closed (or said goodbye)
        try:
            pm = decode_frame(data, self.fmt)
            self.broker.realtime.handle(self.connection, pm, self)
        except AblyError as exc:
            log.info("connection %s: protocol error %s", self.connection.id, exc.message,
                     extra={"connection_id": self.connection.id})
            self._fail(exc)
        except Exception:  # a bug: the client hears why, and nothing else on the loop is affected
            log.exception("connection %s: failed handling a frame", self.connection.id,
                          extra={"connection_id": self.connection.id})
            self._fail(AblyError(50000, 500, "Internal error"))

    def _fail(self, error: AblyError, close_code: CloseCode | None = None, resumable: bool = False) -> None:
        """A fatal connection ERROR (or DISCONNECTED when `resumable`), then the socket is closed.

        After ERROR the state is discarded; after DISCONNECTED the connection stays resumable."""
        self.send({"action": Action.DISCONNECTED if resumable else Action.ERROR, "error": error.to_wire()})
        if self.connection is not None and not resumable:
            self.broker.realtime.fail(self.connection)
        if close_code is not None and not self._closed:
            self._closed = True
            self._wake_drainers()
            self.ws.fail(close_code, error.message[:100])
            self._flush_ws()
            self.transport.close()
        else:
            self.close()

    def _overflow(self, why: str) -> None:
        """A client that cannot keep up is cut off; it resumes and catches up from history.

        Nothing more is queued after the DISCONNECTED; if the client does not drain its
        buffer within the grace period the socket is aborted, so memory stays bounded. The
        connection lets go of its subscriptions at once (on the next loop turn: this runs
        inside a channel's fan-out) and becomes resumable, as after any transport loss.
        """
        connection_id = self.connection.id if self.connection else None
        log.warning("connection %s: %s, disconnecting", connection_id or "-", why,
                    extra={"connection_id": connection_id})
        self.broker.metrics.slow_consumer_cutoffs += 1
        error = AblyError(80003, 503, "Disconnected: the client is not reading fast enough")
        self.transport.write(frame(encode({"action": Action.DISCONNECTED, "error": error.to_wire()}, self.fmt), self.fmt))
        self._closed = True
        self._wake_drainers()
        self.transport.close()
        self.broker.loop.call_soon(self.connection_lost)
        self.broker.loop.call_later(OVERFLOW_GRACE, self.transport.abort)

    def heartbeat(self, now: float, idle: float) -> None:
        if not self._closed and self.connection is not None and now - self.last_send >= idle:
            self.send({"action": Action.HEARTBEAT})


def _wire_size(event: Frame) -> int:
    """The bytes a masked client frame took on the wire: header, extended length, mask, payload."""
    size = len(event.data)
    return 2 + (0 if size < 126 else 2 if size < 65536 else 8) + 4 + size
