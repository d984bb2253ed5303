"""Slow, idle and malformed sockets are answered and closed on a deadline; nobody else waits.

Raw sockets against a real broker process started with short timeouts, so nothing a client
library does (retries, header normalisation) can hide what the broker answered.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from broker.protocol.actions import Action
from tests.support.broker import BrokerProcess

TIMEOUT = 10.0
SHORT = 0.5  # seconds: every timeout of the module's broker
WS_HEAD = (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\nHost: x\r\n")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=Path(tmp_path_factory.mktemp("hardening")) / "broker.db", engine="memory",
                         extra_args=["--request-head-timeout", str(SHORT), "--request-body-timeout", str(SHORT),
                                     "--frame-timeout", str(SHORT)]).start()
    yield proc
    proc.stop()
    assert "Traceback" not in proc.log(), proc.log()[-3000:]


def connect(broker: BrokerProcess) -> socket.socket:
    sock = socket.create_connection((broker.host, broker.port), timeout=TIMEOUT)
    return sock


def read_until_closed(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """Everything the broker sends until it closes the socket; fails if it does not within `timeout`."""
    deadline = time.monotonic() + timeout
    out = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return out
        except TimeoutError:
            raise AssertionError(f"the broker did not close the socket within {timeout}s; got {out[:200]!r}") from None
        if not data:
            return out
        out += data


def status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def auth(broker: BrokerProcess) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}


def served(broker: BrokerProcess) -> bool:
    return httpx.get(f"{broker.http_url}/time", timeout=TIMEOUT).status_code == 200


# -- item 2: deadlines ----------------------------------------------------------------------


def test_a_half_sent_request_line_is_answered_408_and_closed(target: BrokerProcess) -> None:
    slow = connect(target)
    slow.sendall(b"GET /time HT")
    started = time.monotonic()
    assert served(target)  # another client meanwhile
    status, body = status_and_body(read_until_closed(slow))
    assert time.monotonic() - started >= SHORT * 0.9
    assert status == 408 and body["error"]["code"] == 40800  # type: ignore[index]
    assert served(target)


def test_a_socket_that_sends_nothing_is_closed_silently(target: BrokerProcess) -> None:
    idle = connect(target)
    assert read_until_closed(idle) == b""


def test_a_kept_alive_socket_is_closed_once_idle_for_the_head_timeout(target: BrokerProcess) -> None:
    sock = connect(target)
    sock.sendall(b"GET /time HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.count(b"HTTP/1.1") == 1


def test_a_half_sent_second_request_on_a_kept_alive_socket_is_answered_408(target: BrokerProcess) -> None:
    sock = connect(target)
    sock.sendall(b"GET /time HTTP/1.1\r\nHost: x\r\n\r\nGET /ti")
    raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.count(b"HTTP/1.1 408 ") == 1 and b"Request head not received" in raw


def test_a_request_body_that_never_completes_is_answered_408(target: BrokerProcess) -> None:
    slow = connect(target)
    slow.sendall(b"POST /channels/slow/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in auth(target).items())
                 + b"\r\n{\"data\":")
    assert served(target)
    status, body = status_and_body(read_until_closed(slow))
    assert status == 408 and "body" in body["error"]["message"]  # type: ignore[index]
    history = httpx.get(f"{target.http_url}/channels/slow/messages", headers=auth(target), timeout=TIMEOUT)
    assert history.status_code == 200 and history.json() == []


def ws_handshake(broker: BrokerProcess) -> tuple[socket.socket, bytes]:
    """A raw WebSocket with credentials; returns the socket and what came after the 101's head."""
    sock = connect(broker)
    sock.sendall(f"GET /?key={broker.key}&format=json&v=6 HTTP/1.1\r\n".encode() + WS_HEAD + b"\r\n")
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock, rest


def test_a_half_sent_websocket_frame_is_disconnected_after_the_frame_timeout(target: BrokerProcess) -> None:
    sock, rest = ws_handshake(target)
    sock.sendall(b"\x81\xfe\x01\x00" + os.urandom(4) + b"{")  # a masked 256-byte text frame, 1 byte of it sent
    with httpx.Client(timeout=TIMEOUT) as http:  # others are served meanwhile
        assert http.get(f"{target.http_url}/time").status_code == 200
    out = rest + read_until_closed(sock)
    assert b'"action":%d' % Action.CONNECTED in out
    assert b'"action":%d' % Action.DISCONNECTED in out and b"not completed in time" in out
    assert b"\x88" in out and (1008).to_bytes(2, "big") in out.split(b"\x88")[-1][:4]


def test_a_quiet_websocket_is_not_timed_out(target: BrokerProcess) -> None:
    sock, _ = ws_handshake(target)
    sock.settimeout(SHORT * 3)
    with pytest.raises(TimeoutError):
        while sock.recv(65536):
            pass


def test_only_so_many_sockets_may_wait_for_a_request_head(tmp_path: Path) -> None:
    proc = BrokerProcess(db=tmp_path / "broker.db", engine="memory",
                         extra_args=["--max-pending-connections", "3"]).start()
    try:
        waiting = [connect(proc) for _ in range(3)]
        for sock in waiting:
            sock.sendall(b"GET /ti")
        refused = connect(proc)
        status, body = status_and_body(read_until_closed(refused))
        assert status == 503 and body["error"]["code"] == 50300  # type: ignore[index]
        for sock in waiting:
            sock.close()
        deadline = time.monotonic() + TIMEOUT
        while True:  # the broker notices the closes on its own schedule: retry, bounded
            try:
                if served(proc):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "never served after the waiting sockets closed"
        assert "refusing a connection" in proc.log()
    finally:
        proc.stop()


# -- item 7: malformed upgrades --------------------------------------------------------------


@pytest.mark.parametrize(("request_bytes", "status", "words"), [
    (b"POST /?format=json HTTP/1.1\r\n" + WS_HEAD + b"\r\n", 400, "must be a GET"),
    (b"GET / HTTP/1.1\r\n" + WS_HEAD + b"".join(b"X-%d: a\r\n" % i for i in range(300)) + b"\r\n", 431,
     "Too many request headers"),
    (b"GET / HTTP/1.1\r\n" + WS_HEAD + b"X-Big: " + b"a" * 300 * 1024 + b"\r\n\r\n", 431, ""),
    (b"GET / HTTP/1.0\r\n" + WS_HEAD + b"\r\n", 400, "needs HTTP/1.1"),
])
def test_a_malformed_upgrade_is_answered_with_a_body(target: BrokerProcess, request_bytes: bytes, status: int,
                                                      words: str) -> None:
    sock = connect(target)
    sock.sendall(request_bytes)
    got, body = status_and_body(read_until_closed(sock))
    assert got == status and body["error"]["statusCode"] == status  # type: ignore[index]
    assert words in body["error"]["message"]  # type: ignore[index]
    assert "INFO broker.http refused an HTTP request: %d" % status in target.log()
    assert served(target)


# -- item 5: query parameters beyond int64 ------------------------------------------------------


@pytest.mark.parametrize("query", [{"start": str(1 << 63)}, {"end": str(-(1 << 63) - 1)},
                                   {"start": "9" * 30}, {"cursor": f"{1 << 64}:0"}, {"cursor": "1:" + "9" * 25},
                                   {"cursor": "١:0"}])
def test_history_parameters_beyond_int64_are_400(target: BrokerProcess, query: dict[str, str]) -> None:
    for path in ("/channels/range/messages", "/channels/range/presence/history"):
        resp = httpx.get(f"{target.http_url}{path}", params=query, headers=auth(target), timeout=TIMEOUT)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == 40003


def test_history_parameters_at_the_int64_bounds_are_accepted(target: BrokerProcess) -> None:
    query = {"start": str(-(1 << 63)), "end": str((1 << 63) - 1), "cursor": f"{(1 << 63) - 1}:0"}
    resp = httpx.get(f"{target.http_url}/channels/range/messages", params=query, headers=auth(target),
                     timeout=TIMEOUT)
    assert resp.status_code == 200 and resp.json() == []


@pytest.mark.parametrize("query", [{"start": "9223372036854776"}, {"end": str((1 << 63) - 1)},
                                   {"start": str(-(1 << 63))}, {"end": str(-(1 << 63))}])
def test_history_times_past_what_positions_hold_are_empty_or_everything(broker: BrokerProcess,
                                                                        query: dict[str, str]) -> None:
    """Found by tests/fuzz: a time in ms fits int64 but its position (ms x 1000) did not (SQLite: 500)."""
    for path in ("/channels/range/messages", "/channels/range/presence/history"):
        resp = httpx.get(f"{broker.http_url}{path}", params=query, headers=auth(broker), timeout=TIMEOUT)
        assert resp.status_code == 200 and isinstance(resp.json(), list), resp.text
