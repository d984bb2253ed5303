from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import BrokerProcess


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker process on the default sqlite engine with one all-powerful key."""
    proc = BrokerProcess(db=tmp_path / "broker.db").start()
    yield proc
    proc.stop()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[type[BrokerProcess]]:
    """Make brokers with custom settings; all are stopped after the test."""
    started: list[BrokerProcess] = []

    def make(**kwargs: object) -> BrokerProcess:
        kwargs.setdefault("db", tmp_path / "broker.db")
        proc = BrokerProcess(**kwargs)  # type: ignore[arg-type]
        started.append(proc)
        return proc

    yield make  # type: ignore[misc]
    for proc in started:
        proc.stop()
