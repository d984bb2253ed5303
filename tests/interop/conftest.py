"""Fixtures for the interop tests: the Node toolchain check, proxies and a TLS certificate."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from ably import AblyRest

from tests.support.broker import BrokerProcess
from tests.support.node import node_problem
from tests.support.proxy import TcpProxy
from tests.support.tls import SelfSignedCert, make_cert, openssl_missing


@pytest.fixture
def ably_js() -> None:
    """Fail (not skip) when ably-js is not installed: a silent skip would hide the whole suite."""
    problem = node_problem()
    if problem:
        pytest.fail(problem)


@pytest.fixture
def proxy_factory() -> Iterator[Callable[..., TcpProxy]]:
    """Start TcpProxy instances for the test; all are stopped afterwards."""
    started: list[TcpProxy] = []

    def make(target_port: int, server_ssl: ssl.SSLContext | None = None) -> TcpProxy:
        proxy = TcpProxy(target_port, server_ssl=server_ssl).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    if openssl_missing():
        pytest.skip("the `openssl` CLI is needed to make a test certificate for ably-python's TLS-only REST")
    directory: Path = tmp_path_factory.mktemp("tls")
    return make_cert(directory)


@pytest.fixture
async def ably_rest_factory(proxy_factory: Callable[..., TcpProxy], tls_cert: SelfSignedCert,
                            monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[[BrokerProcess, str], AblyRest]]:
    """ably-python REST clients for a broker, through a TLS proxy (it refuses Basic auth over HTTP)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert.cert))
    made: list[AblyRest] = []

    def make(broker: BrokerProcess, fmt: str) -> AblyRest:
        proxy = proxy_factory(broker.port, server_ssl=tls_cert.server_context())
        client = AblyRest(key=broker.key, endpoint="127.0.0.1", tls=True, tls_port=proxy.port,
                          use_binary_protocol=fmt == "msgpack")
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
