"""TLS on the broker's one port, and what the logs say about clients that get TLS wrong."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import certifi
import httpx
import pytest
from ably import AblyRest
from ably.util.exceptions import AblyException

from tests.ops.conftest import TlsFiles
from tests.support.broker import ROOT, BrokerProcess

LOG_WAIT = 10.0


def wait_for_log(broker: BrokerProcess, text: str) -> str:
    """The broker's log is a file another process writes: polling it is the only signal."""
    deadline = time.monotonic() + LOG_WAIT
    while time.monotonic() < deadline:
        log = broker.log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {LOG_WAIT}s:\n{broker.log()}")


def test_https_rest_with_basic_auth(tls_broker: BrokerProcess, tls_files: TlsFiles) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=tls_files.ca)) as http:
        published = http.post(f"{tls_broker.http_url}/channels/tls:1/messages", json={"name": "n", "data": "d"},
                              auth=tuple(tls_broker.key.split(":", 1)))  # type: ignore[arg-type]
        assert published.status_code == 201, published.text
        history = http.get(f"{tls_broker.http_url}/channels/tls:1/messages", auth=tuple(tls_broker.key.split(":", 1)))  # type: ignore[arg-type]
        assert [m["data"] for m in history.json()] == ["d"]
    assert "listening on https://" in tls_broker.log()


def test_certificate_is_verified_by_clients(tls_broker: BrokerProcess) -> None:
    """Trusting only the public CAs, a client refuses the test certificate: verification is real."""
    public_only = ssl.create_default_context(cafile=certifi.where())
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_broker.http_url}/time", verify=public_only)


async def test_ably_python_refuses_basic_auth_over_plain_http(broker: BrokerProcess) -> None:
    """What the README warns about: ably-python's own 40103, raised before any request is sent."""
    rest = AblyRest(key=broker.key, endpoint="127.0.0.1", port=broker.port, tls=False)
    try:
        with pytest.raises(AblyException) as raised:
            await rest.channels.get("plain").history()
    finally:
        await rest.close()
    assert (raised.value.code, raised.value.status_code) == (40103, 401)
    assert "GET /channels/plain/messages" not in broker.log()


def test_tls_client_on_plain_port_is_logged_with_its_address(broker: BrokerProcess) -> None:
    ctx = ssl.create_default_context()
    with socket.create_connection((broker.host, broker.port), timeout=5) as raw:
        local = raw.getsockname()
        with pytest.raises((ssl.SSLError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
    log = wait_for_log(broker, "opened TLS on this plain-HTTP port")
    assert f"INFO broker.http {local[0]}:{local[1]} opened TLS" in log
    assert httpx.get(f"{broker.http_url}/healthz").status_code == 200


def test_plain_http_on_tls_port_does_not_disturb_the_broker(tls_broker: BrokerProcess, tls_files: TlsFiles) -> None:
    with socket.create_connection((tls_broker.host, tls_broker.port), timeout=5) as raw:
        raw.sendall(b"GET /time HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not raw.recv(4096).startswith(b"HTTP/")
    with httpx.Client(verify=ssl.create_default_context(cafile=tls_files.ca)) as http:
        assert http.get(f"{tls_broker.http_url}/time").status_code == 200


def test_rest_401_is_logged_with_the_peer(broker: BrokerProcess) -> None:
    with httpx.Client() as http:
        denied = http.get(f"{broker.http_url}/channels/x/messages", auth=("tether.root", "wrong-secret"))
        assert denied.status_code == 401
    log = wait_for_log(broker, "401 for GET /channels/x/messages from 127.0.0.1:")
    assert "INFO broker.http 401 for GET" in log


def test_key_and_cert_must_match(tmp_path: Path, tls_files: TlsFiles) -> None:
    """A broker given someone else's key cannot start: one line, no traceback."""
    other = tmp_path / "other.pem"
    other.write_bytes(tls_files.ca.read_bytes())
    done = subprocess.run([sys.executable, "-m", "broker", "--engine", "memory", "--key", "a.b:c",
                           "--tls-cert", str(tls_files.cert), "--tls-key", str(other)],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert f"cannot load the TLS certificate {tls_files.cert} with key {other}" in done.stderr
