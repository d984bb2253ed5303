"""Credentials and TLS as the SDKs take them: a token URL (TokenRequest and JWT), and wss:// with a
verified certificate through a TLS-terminating proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.auth import parse_key_spec
from tests.load.conftest import run_local
from tests.support.broker import BrokerProcess
from tests.support.proxy import TcpProxy
from tests.support.tls import make_cert, openssl_missing
from tests.support.token_server import TokenServer


@pytest.mark.parametrize("path", ["/request", "/jwt"])
async def test_token_url(broker: BrokerProcess, tmp_path: Path, path: str) -> None:
    server = TokenServer(parse_key_spec(broker.key), client_id="*").start()
    try:
        s = run_local(broker, tmp_path, "--token-url", server.url + path, "--subscribers", "5", "--rate", "20",
                      "--duration", "1", "--scenario", "presence", "--observers", "2", "--churn", "2")
        assert path in server.paths_hit()
    finally:
        server.stop()
    assert s["errors"] == {} and s["accounting"]["lost"] == 0 and s["accounting"]["expected"] > 0


@pytest.mark.skipif(openssl_missing(), reason="needs the openssl CLI to make a certificate")
async def test_tls_with_verified_certificate(broker: BrokerProcess, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cert = make_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert))  # the child's default context trusts it
    proxy = TcpProxy(broker.port, server_ssl=cert.server_context()).start()
    try:
        s = run_local(broker, tmp_path, "--tls", "--port", str(proxy.port), "--subscribers", "5", "--rate", "20",
                      "--duration", "1")
    finally:
        proxy.stop()
    assert s["errors"] == {} and s["accounting"]["expected"] == 5 * s["acked"] > 0
    assert s["plan"]["tls"] is True
