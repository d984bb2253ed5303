"""ably-js scenarios of this suite, run with the interop runner (tests/support/node.py).

`script()` names a scenario in tests/continuity/js for `run_scenario`. `LiveScenario` runs one
that talks to the test while it runs: it prints `{"event": ...}` lines the test waits for, and
reads command lines (e.g. "restarted") from stdin, so the test can kill or restart the broker
at a moment the scenario chooses.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

from tests.support.broker import BrokerProcess
from tests.support.node import INTEROP_DIR, SCRIPTS_DIR, ScenarioFailed, node_problem

JS_DIR = Path(__file__).resolve().parent / "js"
LOG_TAIL = 4000


def script(name: str) -> str:
    """`name` in tests/continuity/js, as a path run_scenario resolves."""
    return os.path.relpath(JS_DIR / name, SCRIPTS_DIR)


class LiveScenario:
    def __init__(self, name: str, params: dict[str, Any], timeout: float,
                 brokers: tuple[BrokerProcess, ...] = ()) -> None:
        problem = node_problem()
        if problem:
            raise ScenarioFailed(problem)
        self.params = {"timeoutMs": int(timeout * 1000) - 2000, **params}
        self.brokers = brokers
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self.proc = subprocess.Popen(
            ["node", str(JS_DIR / name), json.dumps(self.params)], cwd=INTEROP_DIR, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"})
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout, self._stdout, self._lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._stderr, None), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str], keep: list[str], lines: queue.Queue[str | None] | None) -> None:
        for line in stream:
            keep.append(line)
            if lines is not None:
                lines.put(line)
        if lines is not None:
            lines.put(None)

    def event(self, name: str, timeout: float) -> dict[str, Any]:
        """Wait for the scenario to print `{"event": name, ...}`."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise self._failed(f"no {name!r} event within {timeout}s") from None
            if line is None:
                raise self._failed(f"exited before the {name!r} event")
            if line.startswith('{"event"'):
                event: dict[str, Any] = json.loads(line)
                if event["event"] == name:
                    return event

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise self._failed(f"still running after {timeout}s") from None
        for line in reversed("".join(self._stdout).strip().splitlines()):
            if line.startswith("{") and not line.startswith('{"event"'):
                result: dict[str, Any] = json.loads(line)
                if rc == 0 and "error" not in result:
                    return result
                break
        raise self._failed(f"exited with {rc}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _failed(self, reason: str) -> ScenarioFailed:
        def tail(text: str) -> str:
            return text if len(text) <= LOG_TAIL else "…" + text[-LOG_TAIL:]
        logs = "".join(f"\n--- broker :{b.port} log ---\n{tail(b.log())}" for b in self.brokers)
        return ScenarioFailed(f"{reason}\nparams: {json.dumps(self.params)}\n--- stdout ---\n"
                              f"{tail(''.join(self._stdout))}\n--- stderr ---\n{tail(''.join(self._stderr))}{logs}")
