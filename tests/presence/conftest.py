"""Fixtures for presence tests: brokers with a short resume window or the memory engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import BrokerProcess

from .support import SHORT_TTL


@pytest.fixture
def short_ttl_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """Dropped connections stay resumable for SHORT_TTL seconds only."""
    proc = BrokerProcess(db=tmp_path / "broker.db", extra_args=["--connection-state-ttl", str(SHORT_TTL)]).start()
    yield proc
    proc.stop()


@pytest.fixture
def memory_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=tmp_path / "broker.db", engine="memory").start()
    yield proc
    proc.stop()

