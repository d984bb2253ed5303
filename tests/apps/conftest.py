"""Fixtures: one broker process serving two apps (alpha and beta) from its --key flags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import BrokerProcess

from .support import ALPHA, BETA, App


@pytest.fixture
def two_apps(tmp_path: Path) -> Iterator[tuple[App, App]]:
    proc = BrokerProcess(db=tmp_path / "broker.db", keys=[ALPHA, BETA]).start()
    yield App(proc, ALPHA), App(proc, BETA)
    proc.stop()
