"""`make demo` (examples/demo.py): one command brings up broker, agent and page; two pages chat through it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.agent import FakeLLM
from tests.browser.expect import complete
from tests.browser.pages import Browser
from tests.support.broker import ROOT, free_port

TOKENS = 12


@pytest.fixture
def demo(web_page: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.demo", "--broker-port", str(free_port()), "--port", "0",
         "--db", str(tmp_path / "broker.db"), "--tokens", str(TOKENS), "--delay-ms", "20"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while not any("phone" in line for line in lines):
            line = process.stdout.readline()
            if not line:
                pytest.fail(f"the demo exited: {''.join(lines)}{process.stderr.read() if process.stderr else ''}")
            lines.append(line)
        yield process, re.findall(r"http://\S+", "".join(lines))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


async def test_one_command_serves_two_devices_of_one_conversation(
        demo: tuple[subprocess.Popen[str], list[str]], browser: Browser, tmp_path: Path) -> None:
    process, urls = demo
    laptop_url, phone_url = urls
    assert "device=laptop" in laptop_url and "device=phone" in phone_url
    laptop = await browser.open("laptop", laptop_url)
    phone = await browser.open("phone", phone_url)
    await laptop.ready()
    await phone.ready()
    await laptop.send("hello demo")
    full = "".join(FakeLLM(TOKENS, 0).words("hello demo", 1))
    for device in (laptop, phone):
        done = await device.wait(f"{complete(full)} && s.active === 0", "the whole reply")
        assert [(m["role"], m["text"]) for m in done["messages"]] == [("user", "hello demo"), ("assistant", full)]
        assert done["errors"] == []
    await laptop.screenshot(tmp_path / "laptop.png")
    assert (tmp_path / "dev-key.txt").exists(), "the broker made its dev key beside the demo database"

    process.send_signal(signal.SIGINT)
    assert process.wait(15) == 0, "Ctrl-C stops the demo cleanly"
