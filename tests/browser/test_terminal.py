"""The Python terminal client (examples/chat.py) and the browser page as two devices of one session."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser.conftest import Stack
from tests.browser.expect import IDLE, complete, conversation, reply
from tests.browser.pages import Browser
from tests.support.broker import ROOT


class Terminal:
    """examples/chat.py as a person runs it: lines typed on stdin, the conversation printed on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.screen = ""

    async def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def shows(self, text: str, timeout: float = 15) -> None:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while text not in self.screen:
                    chunk = await self.proc.stdout.read(4096)
                    if not chunk:
                        break
                    self.screen += chunk.decode()
        except TimeoutError:
            pass
        assert text in self.screen, f"the terminal never showed {text!r}; it shows:\n{self.screen[-3000:]}"


@pytest.fixture
async def terminal(stack: Stack, chat: str) -> AsyncIterator[Terminal]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "chat.py"), "--broker-port", str(stack.broker.port),
        "--key", stack.broker.key, "--agent", stack.invoke_url, "--channel", f"conversations:alice:{chat}",
        "--client-id", "alice-terminal", "--device", "terminal", cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    yield Terminal(proc)
    if proc.returncode is None:
        await Terminal(proc).type("/quit")
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_a_prompt_typed_in_python_shows_in_the_browser_and_the_reverse(
        stack: Stack, browser: Browser, chat: str, terminal: Terminal, artifacts: Path) -> None:
    page = await browser.open("laptop", stack.url("laptop", chat))
    await page.ready()
    await page.wait("s.members.includes('alice-terminal')", "the terminal in presence")

    await terminal.type("hello from the terminal")
    await terminal.shows(reply("hello from the terminal"))
    shown = await page.wait(f"{complete(reply('hello from the terminal'))} && {IDLE}", "the terminal's exchange")
    assert conversation(shown) == [("user", "hello from the terminal"), ("assistant", reply("hello from the terminal"))]

    await page.send("hello from the browser")
    await terminal.shows("[user] hello from the browser")
    await terminal.shows(reply("hello from the browser"))
    done = await page.wait(f"{complete(reply('hello from the browser'))} && {IDLE}", "the browser's exchange")
    assert [text for _, text in conversation(done)] == [
        "hello from the terminal", reply("hello from the terminal"),
        "hello from the browser", reply("hello from the browser")]
    await page.screenshot(artifacts / "browser.png")
    (artifacts / "terminal.txt").write_text(terminal.screen)
