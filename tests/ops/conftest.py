"""Fixtures for the operator-facing tests: a CA and a certificate for 127.0.0.1, a broker on TLS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.support.broker import BrokerProcess


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # what clients trust (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS)
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    directory = tmp_path_factory.mktemp("ops-tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    server.private_key_pem.write_to_path(str(files.key))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert), append=True)
    return files


@pytest.fixture
def tls_broker(tmp_path: Path, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[BrokerProcess]:
    """A broker serving HTTPS and WSS; this process and its children trust the test CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(tls_files.ca))
    broker = BrokerProcess(db=tmp_path / "tls.db", tls=True,
                           extra_args=["--tls-cert", str(tls_files.cert), "--tls-key", str(tls_files.key)]).start()
    yield broker
    broker.stop()
