"""A loopback TCP proxy that a test can use to cut a client's connection like a network would.

`drop()` aborts every live connection (no WebSocket close, no DISCONNECT: the peers just see
the socket die) and makes the proxy refuse new ones until `restore()`. `cut()` aborts the live
connections but keeps accepting; `stall()` holds all bytes in both directions with the sockets
left open (a black hole, for liveness timeouts) until `unstall()`; `delay` adds latency to
every forwarded chunk. A scenario script can flip the same switches over a tiny HTTP control
port (`GET /drop`, `/restore`, `/cut`, `/stall`, `/unstall`), so the moment of the cut follows
the script's own events. With `server_ssl` the proxy also
terminates TLS, for SDKs that insist on TLS (ably-python refuses Basic auth over plain HTTP).
`upstream_rcvbuf` pins the kernel receive buffer of the proxy's sockets to the target, so a
stalled link holds a known, small amount of data and the target's own buffering shows.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from typing import Literal

CONTROL_TIMEOUT = 5.0
CHUNK = 65536
Direction = Literal["up", "down", "both"]


class TcpProxy:
    """Forwards connections on `port` to `target_port`; runs its own event loop in a thread."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1",
                 server_ssl: ssl.SSLContext | None = None, upstream_rcvbuf: int | None = None) -> None:
        self.target_port = target_port
        self.target_host = target_host
        self.server_ssl = server_ssl
        self.upstream_rcvbuf = upstream_rcvbuf
        self.port = 0
        self.control_port = 0
        self.accepted = 0
        self.refused = 0
        self.delay = 0.0
        self._down = False
        self._flow_up: asyncio.Event | None = None
        self._flow_down: asyncio.Event | None = None
        self._links: set[asyncio.WriteTransport] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.Server] = []
        self._pairs: set[asyncio.Task[None]] = set()

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def start(self) -> TcpProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(CONTROL_TIMEOUT)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(CONTROL_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONTROL_TIMEOUT)
        self._loop.close()
        self._loop = None

    def drop(self) -> None:
        """Kill every live connection and refuse new ones."""
        self._call(self._set_down, True)

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._call(self._set_down, False)

    def cut(self) -> None:
        """Kill every live connection; new ones are still accepted."""
        self._call(self._cut)

    def stall(self, direction: Direction = "both") -> None:
        """Stop forwarding ("up": client to target, "down": target to client), keeping the sockets open."""
        self._call(self._set_flowing, direction, False)

    def unstall(self) -> None:
        """Forward again in both directions, including what was held back."""
        self._call(self._set_flowing, "both", True)

    def set_delay(self, seconds: float) -> None:
        """Hold each forwarded chunk for `seconds` before passing it on."""
        self._call(setattr, self, "delay", seconds)

    def _cut(self) -> None:
        for transport in list(self._links):
            _reset(transport)
        self._links.clear()

    def _set_flowing(self, direction: Direction, flowing: bool) -> None:
        assert self._flow_up is not None and self._flow_down is not None
        events = {"up": [self._flow_up], "down": [self._flow_down], "both": [self._flow_up, self._flow_down]}
        for event in events[direction]:
            if flowing:
                event.set()
            else:
                event.clear()

    def _call(self, fn: object, *args: object) -> None:
        assert self._loop is not None, "proxy not started"

        async def run() -> None:
            fn(*args)  # type: ignore[operator]

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(CONTROL_TIMEOUT)

    def _set_down(self, down: bool) -> None:
        self._down = down
        if down:
            self._cut()

    async def _listen(self) -> None:
        self._flow_up, self._flow_down = asyncio.Event(), asyncio.Event()
        self._flow_up.set()
        self._flow_down.set()
        data = await asyncio.start_server(self._accept, "127.0.0.1", self.port, ssl=self.server_ssl)
        control = await asyncio.start_server(self._control, "127.0.0.1", self.control_port)
        self._servers = [data, control]
        self.port = data.sockets[0].getsockname()[1]
        self.control_port = control.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        self._set_down(True)
        self._set_flowing("both", True)  # let held pipes see their sockets are gone and end
        if self._pairs:
            await asyncio.wait(self._pairs, timeout=CONTROL_TIMEOUT)
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            self.refused += 1
            _reset(writer.transport)
            return
        try:
            up_reader, up_writer = await self._connect_upstream()
        except OSError:
            self.refused += 1
            _reset(writer.transport)
            return
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._pairs.add(task)
        task.add_done_callback(self._pairs.discard)
        pair = {writer.transport, up_writer.transport}
        self._links |= pair
        assert self._flow_up is not None and self._flow_down is not None
        await asyncio.gather(self._pipe(reader, up_writer, self._flow_up),
                             self._pipe(up_reader, writer, self._flow_down))
        self._links -= pair

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream_rcvbuf is None:
            return await asyncio.open_connection(self.target_host, self.target_port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.upstream_rcvbuf)  # before connect: fixes the window
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (self.target_host, self.target_port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event) -> None:
        """Copy one direction until EOF or error, then close (or abort) the other side."""
        try:
            while chunk := await reader.read(CHUNK):
                if self.delay:
                    await asyncio.sleep(self.delay)
                if not flowing.is_set():
                    await flowing.wait()
                if writer.transport.is_closing():
                    return
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (OSError, ssl.SSLError, RuntimeError):
            writer.transport.abort()

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1].decode()
        actions: dict[str, Callable[[], None]] = {
            "/drop": lambda: self._set_down(True), "/restore": lambda: self._set_down(False),
                   "/cut": self._cut, "/stall": lambda: self._set_flowing("both", False),
                   "/unstall": lambda: self._set_flowing("both", True)}
        if path in actions:
            actions[path]()
            status, body = "200 OK", b"ok"
        else:
            status, body = "404 Not Found", b"unknown control path"
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                     .encode() + body)
        await writer.drain()
        writer.close()


def _reset(transport: asyncio.WriteTransport) -> None:
    """Close with a TCP RST (SO_LINGER 0), as when a network path dies, not with a FIN."""
    if transport.is_closing():
        return  # already gone (a closed TLS transport cannot even say which socket it had)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
