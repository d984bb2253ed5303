"""Continuity fixtures: the ably-js check (shared with interop) and proxies the test controls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.interop.conftest import ably_js
from tests.support.proxy import TcpProxy

__all__ = ["ably_js", "proxy_factory"]


@pytest.fixture
def proxy_factory() -> Iterator[Callable[..., TcpProxy]]:
    """Start TcpProxy instances (any TcpProxy option); all are stopped after the test."""
    started: list[TcpProxy] = []

    def make(target_port: int, **options: Any) -> TcpProxy:
        proxy = TcpProxy(target_port, **options).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()
