"""Run an ably-js scenario script under Node and hand its JSON result to a test.

Each script in tests/interop/js/ takes one JSON argument (its parameters), prints exactly one
JSON object as the last line of stdout and exits 0; on failure it prints `{"error": ...}` and
exits 1. The runner enforces a hard timeout on top of the script's own internal timeouts so
a hung SDK can never hang the test run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

from tests.support.broker import ROOT, BrokerProcess

INTEROP_DIR = ROOT / "tests" / "interop"
SCRIPTS_DIR = INTEROP_DIR / "js"
NODE_MODULES = INTEROP_DIR / "node_modules"
DEFAULT_TIMEOUT = 40.0
LOG_TAIL = 4000


class ScenarioFailed(AssertionError):
    """The script failed, timed out or printed no JSON result; the message carries every clue."""


def node_problem() -> str | None:
    """Why ably-js scenarios cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "`node` is not on PATH (Node 20+ is needed for the ably-js interop tests)"
    if not (NODE_MODULES / "ably" / "package.json").exists():
        return f"ably-js is not installed: run `make test` or `npm ci` in {INTEROP_DIR}"
    return None


def _tail(text: str) -> str:
    return text if len(text) <= LOG_TAIL else "…" + text[-LOG_TAIL:]


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def run_scenario(script: str, params: dict[str, Any], *, timeout: float = DEFAULT_TIMEOUT,
                 brokers: tuple[BrokerProcess, ...] = ()) -> dict[str, Any]:
    """Run `js/<script>` with `params`; return its result or raise ScenarioFailed with the logs."""
    problem = node_problem()
    if problem:
        raise ScenarioFailed(problem)
    params = {"timeoutMs": int(timeout * 1000) - 2000, **params}
    env = {**os.environ, "NODE_NO_WARNINGS": "1"}
    cmd = ["node", str(SCRIPTS_DIR / script), json.dumps(params)]
    try:
        done = subprocess.run(cmd, check=False, cwd=INTEROP_DIR, env=env, capture_output=True, text=True,
                              timeout=timeout)
        stdout, stderr, rc = done.stdout, done.stderr, done.returncode
        result = _last_json_line(stdout)
        if rc == 0 and result is not None and "error" not in result:
            return result
        reason = f"exited with {rc}"
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        result = _last_json_line(stdout)
        reason = f"killed after the {timeout}s hard timeout"
    logs = "".join(f"\n--- broker :{b.port} log ---\n{_tail(b.log())}" for b in brokers)
    raise ScenarioFailed(
        f"{script} {reason}\nparams: {json.dumps(params)}\nresult: {json.dumps(result)}"
        f"\n--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}{logs}"
    )


def broker_params(broker: BrokerProcess, port: int | None = None) -> dict[str, Any]:
    """How a scenario reaches `broker` (optionally through a proxy on `port`)."""
    return {"host": broker.host, "port": port or broker.port, "key": broker.key}
