"""One asyncio Protocol per TCP connection: HTTP/1.1 through h11, upgraded to WebSocket.

A request with `Upgrade: websocket` is re-serialised and handed to websockets' Sans-I/O
server protocol together with any bytes that followed it; everything else is REST.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11

from ..protocol.errors import AblyError
from ..rest.http import Request, Response, error_response
from .websocket import MAX_REQUEST_LINE, WebSocketSession

if TYPE_CHECKING:
    from .app import Broker

log = logging.getLogger("broker.http")

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
        self._first_data = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport
        self.broker.edges.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.broker.edges.discard(self)
        if self.ws is not None:
            self.ws.connection_lost()

    def data_received(self, data: bytes) -> None:
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
        if self.ws is not None:  # plain HTTP responses are small and written whole
            self.ws.pause_writing()

    def resume_writing(self) -> None:
        if self.ws is not None:
            self.ws.resume_writing()

    def eof_received(self) -> bool | None:
        if self.ws is None and self.http is not None:
            self.http.receive_data(b"")
            self._next_events()
        return None

    def _next_events(self) -> None:
        assert self.http is not None and self.transport is not None
        while not self._busy:
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as exc:
                self._reject(AblyError(40000, exc.error_status_hint, f"Bad HTTP request: {exc}"))
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:
                if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
                    self.http.start_next_cycle()
                    continue
                return
            if isinstance(event, h11.Request):
                if _is_websocket(event):
                    self._upgrade(event)
                    return
                self._request, self._body, self._body_size = event, [], 0
            elif isinstance(event, h11.Data):
                self._body_size += len(event.data)
                if self._body_size > self.broker.config.max_http_body:
                    self._reject(AblyError(40009, 413, "Request body too large"))
                    return
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage) and self._request is not None:
                self._busy = True
                self.transport.pause_reading()
                asyncio.ensure_future(self._respond(self._request, b"".join(self._body)))
                self._request = None
            elif isinstance(event, h11.ConnectionClosed):
                self.transport.close()
                return

    async def _respond(self, event: h11.Request, body: bytes) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
        request = Request(event.method.decode(), event.target.decode("latin-1"), headers, body)
        response = await self.broker.rest.handle(request)
        if response.status == 401:
            message = dict(response.headers).get("X-Ably-Errormessage", "")
            log.info("401 for %s %s from %s: %s", request.method, urlsplit(request.target).path, self.peer, message)
        self._send(response)
        self._busy = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
            self._next_events()

    def _send(self, response: Response) -> None:
        assert self.http is not None and self.transport is not None
        if self.transport.is_closing():
            return
        headers = [("Content-Length", str(len(response.body))), ("Server", "tether"), *response.headers]
        try:
            out = self.http.send(h11.Response(status_code=response.status, headers=headers,
                                              reason=HTTPStatus(response.status).phrase.encode()))
            out += self.http.send(h11.Data(data=response.body)) if response.body else b""
            out += self.http.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            log.exception("could not send a %d response", response.status)
            self.transport.close()
            return
        self.transport.write(out)
        if self.http.our_state is h11.MUST_CLOSE:
            self.transport.close()

    def _reject(self, error: AblyError) -> None:
        assert self.transport is not None and self.http is not None
        response = error_response(None, error)
        if self.http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            response.headers.append(("Connection", "close"))
            self._send(response)
        self.transport.close()

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
