"""One CA-verifying TLS context per process: loading the CA store takes ~20 ms, per client it adds up."""

from __future__ import annotations

import ssl
from functools import cache


@cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()
