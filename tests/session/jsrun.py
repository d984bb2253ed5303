"""Run the session interop scripts (tests/session/js) under Node against the official @ably/ai-transport.

Modules come from AIT_NODE_MODULES when set, else tests/interop/node_modules; the Vercel entry
point of @ably/ai-transport imports the `ai` package, so that must be installed there too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.broker import ROOT

SCRIPTS = Path(__file__).parent / "js"
NODE_MODULES = Path(os.environ.get("AIT_NODE_MODULES", ROOT / "tests" / "interop" / "node_modules"))


def js_problem() -> str | None:
    """Why the official SDK cannot run here, or None."""
    if shutil.which("node") is None:
        return "`node` is not on PATH"
    for package in ("ably", "@ably/ai-transport", "ai"):
        if not (NODE_MODULES / package / "package.json").exists():
            return (f"npm package {package!r} is missing from {NODE_MODULES} (the @ably/ai-transport/vercel entry "
                    "imports `ai`; add it to tests/interop/package.json, or point AIT_NODE_MODULES at an install)")
    return None


def _command(script: str, params: dict[str, Any]) -> list[str]:
    return ["node", str(SCRIPTS / script), json.dumps(params)]


def _env() -> dict[str, str]:
    return {**os.environ, "NODE_NO_WARNINGS": "1", "AIT_NODE_MODULES": str(NODE_MODULES)}


def _result(script: str, stdout: str, stderr: str, rc: int | None) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            value = json.loads(line)
            if rc == 0 and "error" not in value:
                return value  # type: ignore[no-any-return]
            break
    raise AssertionError(f"{script} failed (rc={rc})\n--- stdout ---\n{stdout[-4000:]}\n--- stderr ---\n{stderr[-4000:]}")


def run_js(script: str, params: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Run a script to completion and return its JSON result."""
    problem = js_problem()
    if problem:
        raise AssertionError(problem)
    params = {"timeoutMs": int(timeout * 1000) - 1000, **params}
    done = subprocess.run(_command(script, params), env=_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)
    return _result(script, done.stdout, done.stderr, done.returncode)


class JsProcess:
    """A script running alongside the test (e.g. a JS client session); read its JSON lines as they come."""

    def __init__(self, script: str, params: dict[str, Any], timeout: float = 30.0) -> None:
        self.script = script
        self.params = {"timeoutMs": int(timeout * 1000), **params}
        self.proc: asyncio.subprocess.Process | None = None
        self._stderr = b""

    async def start(self) -> JsProcess:
        problem = js_problem()
        if problem:
            raise AssertionError(problem)
        self.proc = await asyncio.create_subprocess_exec(
            *_command(self.script, self.params), env=_env(), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return self

    async def read(self, timeout: float = 15.0) -> dict[str, Any]:
        """The next JSON line the script prints."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    err = await self.proc.stderr.read() if self.proc.stderr else b""
                    raise AssertionError(f"{self.script} ended early: {err.decode(errors='replace')[-4000:]}")
                text = line.decode().strip()
                if text.startswith("{"):
                    value: dict[str, Any] = json.loads(text)
                    if "error" in value:
                        raise AssertionError(f"{self.script}: {value['error']}")
                    return value

    async def until(self, key: str, value: Any, timeout: float = 15.0) -> dict[str, Any]:
        """Read lines until one has `key == value`."""
        async with asyncio.timeout(timeout):
            while True:
                line = await self.read(timeout)
                if line.get(key) == value:
                    return line

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.kill()
        await self.proc.wait()
