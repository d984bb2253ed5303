"""One asyncio Protocol per TCP connection: HTTP/1.1 through h11, upgraded to WebSocket.

A request with `Upgrade: websocket` is checked, re-serialised and handed to websockets'
Sans-I/O server protocol together with any bytes that followed it; everything else is REST.

What one socket may cost is bounded (docs/reliability.md, "Hostile and slow clients"):
pipelined requests are read and answered one at a time, and reading stops while the last
response is still above the write buffer's high-water mark, so a client that never reads
holds at most one response plus HTTP_HIGH_WATER; a request head, a body and an unread
response each have a deadline; unread responses on all sockets together are capped by
`max_unread_responses`; and only `max_pending_connections` sockets may be waiting for a
request head at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11

from ..protocol.errors import AblyError
from ..rest.http import Request, Response, error_response
from .websocket import MAX_HEADERS, MAX_REQUEST_LINE, WebSocketSession

if TYPE_CHECKING:
    from .app import Broker

log = logging.getLogger("broker.http")

HTTP_HIGH_WATER = 64 * 1024  # bytes of response buffered before reading stops (asyncio's default)
CLOSE_GRACE = 5.0  # seconds for a refusal to flush before the socket is aborted
TLS_HANDSHAKE = b"\x16"  # the first byte of a TLS ClientHello; no HTTP method starts with it


class EdgeProtocol(asyncio.Protocol):
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.transport: asyncio.Transport | None = None
        self.http: h11.Connection | None = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_LINE)
        self.ws: WebSocketSession | None = None
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._busy = False
        self._write_paused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._unsent = 0  # buffered response bytes when the stall deadline was set
        self._first_data = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport
        self.transport.set_write_buffer_limits(high=HTTP_HIGH_WATER)
        edges = self.broker.edges
        edges.add(self)
        if len(edges.awaiting_head) >= self.broker.config.max_pending_connections:
            log.info("refusing a connection: %d sockets are already waiting for a request head",
                     len(edges.awaiting_head))
            self._reject(AblyError(50300, 503, "Too many connections waiting for a request; retry later"))
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.broker.edges.discard(self)
        if self.ws is not None:
            self.ws.connection_lost()

    def data_received(self, data: bytes) -> None:
        self.broker.metrics.bytes_in += len(data)
        if self.ws is not None:
            self.ws.data_received(data)
            return
        assert self.http is not None
        if self._first_data:
            self._first_data = False
            if data[:1] == TLS_HANDSHAKE and not self.broker.tls:  # h11 answers it 400 below
                log.info("%s opened TLS on this plain-HTTP port: connect with tls: false, or start the broker "
                         "with --tls-cert and --tls-key", self.peer)
        self.http.receive_data(data)
        self._next_events()

    @property
    def peer(self) -> str:
        """`host:port` of the client, for log lines."""
        address = self.transport.get_extra_info("peername") if self.transport is not None else None
        return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "unknown peer"

    def pause_writing(self) -> None:
        if self.ws is not None:
            self.ws.pause_writing()
            return
        self._write_paused = True
        self._watch_stall()
        self.broker.edges.unread[self] = None
        self.broker.edges.shed_unread(self.broker.config.max_unread_responses)

    def resume_writing(self) -> None:
        if self.ws is not None:
            self.ws.resume_writing()
            return
        self._write_paused = False
        self.broker.edges.unread.pop(self, None)
        self._disarm()
        self._proceed()

    def eof_received(self) -> bool | None:
        if self.ws is None and self.http is not None:
            self.http.receive_data(b"")
            self._next_events()
        return None

    # -- deadlines ------------------------------------------------------------------------

    def _arm(self, ms: int, callback: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.broker.loop.call_later(ms / 1000, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _await_head(self) -> None:
        self.broker.edges.awaiting_head.add(self)
        self._arm(self.broker.config.request_head_timeout_ms, self._head_timed_out)

    def _head_received(self) -> None:
        self.broker.edges.awaiting_head.discard(self)
        self._disarm()

    def _head_timed_out(self) -> None:
        self._deadline = None
        assert self.http is not None
        if not self.http.trailing_data[0]:  # no byte of a head: an idle (or kept-alive) socket, nothing to answer
            self._close()
            return
        self._refuse(AblyError(40800, 408, f"Request head not received within "
                                           f"{self.broker.config.request_head_timeout_ms / 1000:g}s"))

    def _body_timed_out(self) -> None:
        self._deadline = None
        self._refuse(AblyError(40800, 408, f"Request body not received within "
                                           f"{self.broker.config.request_body_timeout_ms / 1000:g}s"))

    def _watch_stall(self) -> None:
        """Cut off a client that reads none of its response within the stall timeout."""
        assert self.transport is not None
        self._unsent = self.transport.get_write_buffer_size()
        self._arm(self.broker.config.response_stall_timeout_ms, self._check_stall)

    def _check_stall(self) -> None:
        self._deadline = None
        if self.transport is None:
            return
        if self.transport.get_write_buffer_size() < self._unsent:  # slow but reading
            self._watch_stall()
            return
        timeout = self.broker.config.response_stall_timeout_ms / 1000
        self.cut_off(f"{self._unsent} response bytes unread for {timeout:g}s")

    def unread_bytes(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def cut_off(self, why: str) -> None:
        """Drop a client that does not read its responses, and the bytes held for it."""
        log.info("aborting an HTTP connection: %s", why)
        self._disarm()
        self.broker.edges.unread.pop(self, None)
        if self.transport is not None:
            self.transport.abort()

    # -- requests -------------------------------------------------------------------------

    def _next_events(self) -> None:
        assert self.http is not None and self.transport is not None
        while not self._busy:
            if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
                self.http.start_next_cycle()
                self._await_head()
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(AblyError(40000, exc.error_status_hint, f"Bad HTTP request: {exc}"))
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:  # the next cycle starts above, once this one is answered
                return
            if isinstance(event, h11.Request):
                self._head_received()
                problem = _head_problem(event)
                if problem is not None:
                    self._refuse(problem)
                    return
                if _is_websocket(event):
                    self._upgrade(event)
                    return
                self._request, self._body, self._body_size = event, [], 0
                self._arm(self.broker.config.request_body_timeout_ms, self._body_timed_out)
            elif isinstance(event, h11.Data):
                self._body_size += len(event.data)
                if self._body_size > self.broker.config.max_http_body:
                    self._reject(AblyError(40009, 413, "Request body too large"))
                    return
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage) and self._request is not None:
                self._disarm()
                self._busy = True
                self.transport.pause_reading()
                asyncio.ensure_future(self._respond(self._request, b"".join(self._body)))
                self._request = None
            elif isinstance(event, h11.ConnectionClosed):
                self._close()
                return

    async def _respond(self, event: h11.Request, body: bytes) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
        request = Request(event.method.decode(), event.target.decode("latin-1"), headers, body)
        response = await self.broker.respond(request)
        if response.status == 401:
            message = dict(response.headers).get("X-Ably-Errormessage", "")
            log.info("401 for %s %s from %s: %s", request.method, urlsplit(request.target).path, self.peer, message)
        self._send(response)
        self._busy = False
        self._proceed()

    def _proceed(self) -> None:
        """Read the next request, unless one is being answered or the last answer is still unread."""
        if self._busy or self._write_paused or self.ws is not None:
            return
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.resume_reading()
        self._next_events()

    def _send(self, response: Response) -> None:
        assert self.http is not None and self.transport is not None
        if self.transport.is_closing():
            return
        headers = [("Content-Length", str(len(response.body))), ("Server", "tether"), *response.headers]
        try:
            head = self.http.send(h11.Response(status_code=response.status, headers=headers,
                                               reason=HTTPStatus(response.status).phrase.encode()))
            # The body is written as it is, not copied into one buffer with the head.
            body = self.http.send_with_data_passthrough(h11.Data(data=response.body)) if response.body else []
            end = self.http.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            log.exception("could not send a %d response", response.status)
            self.transport.close()
            return
        chunks = [head or b"", *body, end or b""]
        self.transport.writelines(chunks)
        self.broker.metrics.bytes_out += sum(len(chunk) for chunk in chunks)
        if self.http.our_state is h11.MUST_CLOSE:
            self.transport.close()  # after the response is flushed; a stalled reader meets the stall deadline

    def _refuse(self, error: AblyError) -> None:
        """A request the broker will not read to the end: logged, answered, and the socket closed."""
        log.info("refused an HTTP request: %d %s", error.status_code, error.message)
        self._reject(error)

    def _reject(self, error: AblyError) -> None:
        assert self.transport is not None and self.http is not None
        response = error_response(None, error)
        if self.http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            response.headers.append(("Connection", "close"))
            self._send(response)
        self._close()

    def _close(self) -> None:
        """Close after what is written is flushed, but never wait on a client that does not read."""
        assert self.transport is not None
        self._disarm()
        self.broker.edges.awaiting_head.discard(self)
        self.transport.close()
        self.broker.loop.call_later(CLOSE_GRACE, self.transport.abort)

    def _upgrade(self, event: h11.Request) -> None:
        assert self.transport is not None and self.http is not None
        raw = b"%s %s HTTP/1.1\r\n" % (event.method, event.target)
        raw += b"".join(b"%s: %s\r\n" % (k, v) for k, v in event.headers.raw_items()) + b"\r\n"
        trailing, _ = self.http.trailing_data
        self.http = None
        self.ws = WebSocketSession(self.broker, self.transport, raw + bytes(trailing))


def _is_websocket(event: h11.Request) -> bool:
    for name, value in event.headers:
        if name == b"upgrade" and value.lower() == b"websocket":
            return True
    return False


def _head_problem(event: h11.Request) -> AblyError | None:
    """What makes a request head unacceptable before it is routed, or None.

    websockets would drop such upgrades without an HTTP answer; they get a 400 or 431 here.
    """
    if len(event.headers) > MAX_HEADERS:
        return AblyError(40000, 431, f"Too many request headers ({len(event.headers)} > {MAX_HEADERS})")
    longest = max((len(name) + len(value) + 2 for name, value in event.headers), default=0)
    if max(longest, len(event.target)) > MAX_REQUEST_LINE:
        return AblyError(40000, 431, f"A request header line is longer than {MAX_REQUEST_LINE} bytes")
    if not _is_websocket(event):
        return None
    if event.method != b"GET":
        return AblyError(40000, 400, f"A WebSocket upgrade must be a GET, not {event.method.decode('latin-1')}")
    if event.http_version != b"1.1":
        return AblyError(40000, 400, f"A WebSocket upgrade needs HTTP/1.1, not HTTP/{event.http_version.decode()}")
    return None
