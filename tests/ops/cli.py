"""Run `python -m broker` as a child with a clean BROKER_* environment, and read its one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from tests.support.broker import ROOT

RUN_TIMEOUT = 30.0


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    return {**env, **extra}


def run_broker(*args: str, env: dict[str, str] | None = None, prefix: Sequence[str] = (),
               **popen: Any) -> subprocess.CompletedProcess[str]:
    """A broker run expected to fail at startup: it must exit on its own well within the timeout."""
    return subprocess.run([*prefix, sys.executable, "-m", "broker", *args], cwd=ROOT, env=env or clean_env(),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, **popen)


def one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The error contract: exit `status`, exactly one line on stderr, no traceback."""
    assert done.returncode == status, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("python -m broker")
    return lines[0]
