"""Run tether-load processes (master, workers, or a local run) against a real broker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.broker import ROOT, BrokerProcess

RUN_TIMEOUT = 120.0  # every run here is bounded by --duration and a backstop; this is the test's own bound


def load_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "client.loadtest", *args]


def target(broker: BrokerProcess) -> list[str]:
    return ["--realtime-host", "127.0.0.1", "--port", str(broker.port), "--key", broker.key]


def run_local(broker: BrokerProcess, tmp: Path, *args: str, expect_rc: int = 0) -> dict[str, Any]:
    """One headless local run; returns its JSON summary."""
    out = tmp / "summary.json"
    proc = subprocess.run(load_cmd(*target(broker), "--summary-json", str(out), *args), cwd=ROOT,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == expect_rc, proc.stderr[-4000:]
    return json.loads(out.read_text())
