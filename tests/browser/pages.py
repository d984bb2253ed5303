"""The Python side of driver.mjs: a Chromium the tests drive, and a page per device of the demo app.

Every request is bounded by a timeout here, and every Playwright wait inside it by its own, so a
page that never shows what a test waits for fails the test with what the page did show.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WAIT = 15.0

# What a test reads off a page: every message as shown, the runs indicator, the connection state.
STATE = """(() => {
  const all = (selector, root = document) => [...root.querySelectorAll(selector)];
  const one = (selector, root = document) => root.querySelector(selector);
  return {
    messages: all('[data-testid=message]').map((li) => ({
      role: li.dataset.role,
      status: li.dataset.status,
      text: one('[data-testid=text]', li)?.textContent ?? '',
      branch: one('[data-testid=branch-index]', li)?.textContent ?? null,
    })),
    active: Number(one('[data-testid=runs]')?.dataset.active ?? 0),
    agent: one('[data-testid=runs]')?.dataset.agent ?? null,
    members: all('[data-testid=member]').map((li) => li.dataset.clientId),
    connection: one('[data-testid=connection]')?.dataset.state ?? null,
    historyError: one('[data-testid=history-error]')?.textContent ?? null,
    errors: all('[data-testid=error]').map((p) => p.textContent),
  };
})()"""


class DriverError(AssertionError):
    """driver.mjs reported an error, or did not answer in time."""


class Browser:
    """One driver.mjs process and the Chromium it launched."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def launch(cls, chromium: str) -> Browser:
        proc = await asyncio.create_subprocess_exec(
            "node", str(HERE / "driver.mjs"), cwd=HERE,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        browser = cls(proc)
        await browser.request("launch", executablePath=chromium, timeout=30)
        return browser

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            message = json.loads(line)
            future = self.waiting.pop(message["id"], None)
            if future is None or future.done():
                continue
            if "error" in message:
                future.set_exception(DriverError(message["error"]))
            else:
                future.set_result(message["result"])
        stderr = await self.proc.stderr.read() if self.proc.stderr else b""
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(DriverError(f"driver exited: {stderr.decode(errors='replace')[-2000:]}"))

    async def request(self, op: str, *, timeout: float = WAIT + 5, **params: Any) -> Any:
        assert self.proc.stdin is not None
        request_id = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        self.proc.stdin.write(json.dumps({"id": request_id, "op": op, **params}).encode() + b"\n")
        await self.proc.stdin.drain()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise DriverError(f"{op} {params} had no answer in {timeout}s") from None
        finally:
            self.waiting.pop(request_id, None)

    async def open(self, name: str, url: str) -> Device:
        """A new device: its own browser context (storage, cookies, network switch) and page."""
        await self.request("open", name=name, url=url)
        return Device(self, name)

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.request("close", timeout=10)
            except DriverError:
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.reader.cancel()


class Device:
    """One page of the demo app, as a device of the user."""

    def __init__(self, browser: Browser, name: str) -> None:
        self.browser = browser
        self.name = name

    async def page(self, method: str, *args: Any, timeout: float = WAIT + 5) -> Any:
        return await self.browser.request("page", name=self.name, method=method, args=list(args), timeout=timeout)

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.page("evaluate", STATE)
        return state

    async def wait(self, condition: str, what: str, timeout: float = WAIT) -> dict[str, Any]:
        """Wait until `condition` (a JS expression over `s`, the page's STATE) holds; return that state."""
        expression = f"(() => {{ const s = {STATE}; return ({condition}) ? s : null; }})()"
        try:
            state: dict[str, Any] = await self.page(
                "waitForFunction", expression, None, {"timeout": timeout * 1000, "polling": "raf"},
                timeout=timeout + 5)
        except DriverError as exc:
            seen = await self.state()
            logs = await self.browser.request("logs", name=self.name)
            raise AssertionError(f"{self.name}: {what} did not happen in {timeout}s.\n"
                                 f"page state: {json.dumps(seen, indent=1)}\nconsole: {logs[-20:]}\n{exc}") from None
        return state

    async def ready(self) -> dict[str, Any]:
        """Connected, and the session's first history page settled (or refused)."""
        return await self.wait("s.connection === 'connected' && document.querySelector('[data-testid=prompt]')",
                               "connecting")

    async def send(self, text: str) -> None:
        await self.page("fill", "[data-testid=prompt]", text)
        await self.page("click", "[data-testid=send]")

    async def click(self, testid: str, nth: int = 0) -> None:
        await self.page("click", f"[data-testid={testid}] >> nth={nth}")

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page("screenshot", {"path": str(path), "fullPage": True})

    async def offline(self, offline: bool) -> None:
        await self.browser.request("context", name=self.name, method="setOffline", args=[offline])
