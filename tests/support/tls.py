"""A throw-away self-signed certificate for 127.0.0.1, made with the `openssl` CLI.

ably-python refuses Basic auth over plain HTTP (40103, raised client-side), so its REST tests
go through a TLS-terminating TcpProxy. The certificate is trusted through SSL_CERT_FILE,
which httpx and Python's `ssl` default context both honour.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL_TIMEOUT = 30.0


@dataclass(frozen=True)
class SelfSignedCert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


def openssl_missing() -> bool:
    return shutil.which("openssl") is None


def make_cert(directory: Path) -> SelfSignedCert:
    """Create a one-day certificate valid for IP 127.0.0.1 and the name localhost."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=OPENSSL_TIMEOUT,
    )
    return SelfSignedCert(cert=cert, key=key)
