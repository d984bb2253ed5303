"""A client that pipelines REST requests and never reads costs the broker one response, not all.

The broker runs in this test's event loop (a real Broker on a real socket) so the test can read
the one number that matters, the bytes buffered for the hostile socket
(`transport.get_write_buffer_size()`), instead of inferring it from the process's RSS.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from broker.auth import KeyStore
from broker.config import Config
from broker.server.app import Broker
from broker.server.edge import HTTP_HIGH_WATER, EdgeProtocol
from tests.support.broker import TEST_KEY

TIMEOUT = 10.0
PIPELINED = 200
MESSAGES = 20
PAYLOAD = 60_000  # bytes per message: a history page is ~1.2 MB, 200 of them ~240 MB


def basic_auth() -> str:
    return "Basic " + base64.b64encode(TEST_KEY.encode()).decode()


async def start_broker(tmp_path: Path, **settings: int) -> Broker:
    config = Config(port=0, engine="memory", db=tmp_path / "broker.db", keys=[TEST_KEY],
                    **settings)  # type: ignore[arg-type]
    broker = Broker(config, KeyStore.from_specs(config.keys))
    await broker.start()
    return broker


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    broker = await start_broker(tmp_path)
    yield broker
    await broker.stop()


async def until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll a condition of the broker's own state, which has no event to await."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


async def fill_channel(broker: Broker, channel: str) -> int:
    """Publish large messages; return the size of one history response."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{broker.port}", timeout=TIMEOUT,
                                 headers={"Authorization": basic_auth()}) as http:
        for i in range(MESSAGES):
            resp = await http.post(f"/channels/{channel}/messages", json={"name": str(i), "data": "x" * PAYLOAD})
            assert resp.status_code == 201, resp.text
        page = await http.get(f"/channels/{channel}/messages", params={"limit": MESSAGES})
        assert page.status_code == 200 and len(page.json()) == MESSAGES
        return len(page.content) + 1024  # with the status line and headers


async def hostile_socket(broker: Broker, channel: str,
                         pipelined: int = PIPELINED) -> tuple[socket.socket, asyncio.Task[None]]:
    """A socket with a tiny receive window that pipelines history requests and never reads."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", broker.port))
    request = (f"GET /channels/{channel}/messages?limit={MESSAGES} HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: {basic_auth()}\r\n\r\n").encode()
    return sock, asyncio.ensure_future(loop.sock_sendall(sock, request * pipelined))


def edge_of(broker: Broker, sock: socket.socket) -> EdgeProtocol | None:
    local = sock.getsockname()
    for edge in broker.edges:
        if edge.transport is not None and edge.transport.get_extra_info("peername") == local:
            return edge
    return None


async def test_a_pipelining_client_that_never_reads_holds_one_response(broker: Broker) -> None:
    one_response = await fill_channel(broker, "big")
    sock, sending = await hostile_socket(broker, "big")
    try:
        await until(lambda: edge_of(broker, sock) is not None, "the broker accepted the socket")
        edge = edge_of(broker, sock)
        assert edge is not None and edge.transport is not None
        transport = edge.transport
        peak = 0

        def stalled() -> bool:
            nonlocal peak
            peak = max(peak, transport.get_write_buffer_size())
            return transport.get_write_buffer_size() > HTTP_HIGH_WATER and not transport.is_reading()

        await until(stalled, "the broker stopped reading the stalled socket")
        # Another client is served in full meanwhile, and the stalled socket stays stalled.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{broker.port}", timeout=TIMEOUT,
                                     headers={"Authorization": basic_auth()}) as http:
            for _ in range(3):
                page = await http.get("/channels/big/messages", params={"limit": MESSAGES})
                assert page.status_code == 200 and len(page.json()) == MESSAGES
                peak = max(peak, transport.get_write_buffer_size())
        assert not transport.is_reading()
        assert peak <= HTTP_HIGH_WATER + one_response, (
            f"{peak} bytes buffered for one socket; at most one response ({one_response}) was expected")
    finally:
        sending.cancel()
        sock.close()


async def test_a_client_that_leaves_its_response_unread_is_cut_off(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="broker.http")
    broker = await start_broker(tmp_path, response_stall_timeout_ms=300)
    try:
        await fill_channel(broker, "big")
        sock, sending = await hostile_socket(broker, "big")
        try:
            await until(lambda: edge_of(broker, sock) is not None, "the broker accepted the socket")
            stalled = edge_of(broker, sock)
            await until(lambda: stalled not in broker.edges, "the stalled socket was aborted")
            assert "response bytes unread for 0.3s" in caplog.text
        finally:
            sending.cancel()
            sock.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{broker.port}", timeout=TIMEOUT) as http:
            assert (await http.get("/time")).status_code == 200
    finally:
        await broker.stop()


async def test_unread_responses_on_all_sockets_together_stay_within_the_budget(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="broker.http")
    broker = await start_broker(tmp_path, max_unread_responses=1)  # set to one response below
    try:
        one_response = await fill_channel(broker, "big")
        broker.config.max_unread_responses = one_response
        hostile = [await hostile_socket(broker, "big", pipelined=8) for _ in range(6)]  # more than the kernel holds
        try:
            await until(lambda: caplog.text.count("aborting an HTTP connection") >= 5
                        and sum(edge_of(broker, sock) is not None for sock, _ in hostile) == 1,
                        "all but one stalled socket were cut off")  # the newest is kept
            assert caplog.text.count("aborting an HTTP connection") == 5
            held = sum(edge.unread_bytes() for edge in broker.edges)
            assert held <= one_response, f"{held} unread bytes held; the budget is {one_response}"
            assert "while unread responses total over" in caplog.text
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{broker.port}", timeout=TIMEOUT,
                                         headers={"Authorization": basic_auth()}) as http:
                page = await http.get("/channels/big/messages", params={"limit": MESSAGES})
                assert page.status_code == 200 and len(page.json()) == MESSAGES
        finally:
            for sock, sending in hostile:
                sending.cancel()
                sock.close()
    finally:
        await broker.stop()


async def test_a_pipelining_client_that_reads_late_gets_every_response(broker: Broker) -> None:
    one_response = await fill_channel(broker, "big")
    sock, sending = await hostile_socket(broker, "big", pipelined=20)
    try:
        await until(lambda: edge_of(broker, sock) is not None, "the broker accepted the socket")
        edge = edge_of(broker, sock)
        assert edge is not None and edge.transport is not None
        transport = edge.transport
        await until(lambda: transport.get_write_buffer_size() > HTTP_HIGH_WATER and not transport.is_reading(),
                    "the broker stopped reading the stalled socket")
        loop = asyncio.get_running_loop()
        received = bytearray()
        async with asyncio.timeout(TIMEOUT):
            while len(received) < 20 * (one_response - 1024) or received.count(b"HTTP/1.1 200 OK\r\n") < 20:
                data = await loop.sock_recv(sock, 1 << 20)
                assert data, "the broker closed the socket"
                received += data
        assert received.count(b"HTTP/1.1 ") == 20
        await sending
    finally:
        sending.cancel()
        sock.close()
