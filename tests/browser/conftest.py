"""Fixtures for the browser tests: Debian's Chromium, the built demo page, a broker and the example agent.

Setup installs what is missing the way CI would: Chromium with apt (skipped, with the reason, only
when apt cannot install it), playwright-core with `npm ci` here, and the page with `npm ci` and
`vite build` in examples/web (rebuilt when its sources are newer than the build).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from examples.web_build import build_page, npm_ci, stale
from tests.browser.pages import Browser
from tests.support.broker import ROOT, BrokerProcess

HERE = Path(__file__).resolve().parent
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "build" / "browser"))
CHROMIUM = ("chromium", "/usr/bin/chromium")
REPLY_TOKENS = 30
REPLY_DELAY_MS = 60  # a reply takes ~2 s: long enough to act on mid-stream, short enough for CI
# A module sets its own REPLY_DELAY_MS when a page must still find the reply streaming after it loads.


def _chromium() -> str | None:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    return None


def _apt_install() -> str:
    """Install Debian's chromium; return why it failed ('' on success)."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "not root, so apt-get cannot install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
    for step in (install, ["apt-get", "update", "-q"], install):
        result = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode == 0 and step is install:
            return ""
    return f"apt-get install chromium failed: {result.stderr[-500:]}"


@pytest.fixture(scope="session")
def chromium() -> str:
    found = _chromium()
    if found is None:
        problem = _apt_install()
        found = _chromium()
        if found is None:
            pytest.skip(f"Chromium is not installed and could not be: {problem}")
    return found


@pytest.fixture(scope="session")
def web_page() -> Path:
    """The built demo page, built now when missing or older than its sources."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed for playwright-core and the demo page (examples/web)")
    if stale(HERE / "node_modules" / ".package-lock.json", [HERE / "package-lock.json"]):
        npm_ci(HERE)
    try:
        return build_page()
    except RuntimeError as exc:
        pytest.fail(str(exc))


@dataclass
class Stack:
    """A broker, the example agent serving the page, and where a page finds them."""

    broker: BrokerProcess
    agent: subprocess.Popen[str]
    agent_port: int

    def url(self, device: str, chat: str, **params: str | int) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"user": "alice", "device": device, "chat": chat, **params}.items())
        return f"http://127.0.0.1:{self.agent_port}/?{query}"

    @property
    def invoke_url(self) -> str:
        return f"http://127.0.0.1:{self.agent_port}/invoke"


@pytest.fixture(scope="module")
def stack(web_page: Path, tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[Stack]:
    delay_ms = getattr(request.module, "REPLY_DELAY_MS", REPLY_DELAY_MS)
    directory = tmp_path_factory.mktemp("browser")
    broker = BrokerProcess(db=directory / "broker.db").start()
    log = open(directory / "agent.log", "w")
    agent = subprocess.Popen(
        [sys.executable, "-m", "examples.agent", "--broker-port", str(broker.port), "--key", broker.key,
         "--listen", "127.0.0.1:0", "--web", str(web_page), "--anyone-can-cancel",
         "--tokens", str(REPLY_TOKENS), "--delay-ms", str(delay_ms)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    assert agent.stdout is not None
    line = agent.stdout.readline()  # the agent prints its address once it listens
    match = re.search(r":(\d+)/invoke", line)
    if match is None:
        agent.kill()
        broker.stop()
        pytest.fail(f"the agent did not start: {line}{(directory / 'agent.log').read_text()}")
    yield Stack(broker, agent, int(match.group(1)))
    agent.terminate()
    try:
        agent.wait(10)
    except subprocess.TimeoutExpired:
        agent.kill()
    broker.stop()


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    launched = await Browser.launch(chromium)
    yield launched
    await launched.close()


@pytest.fixture
def chat() -> str:
    """A fresh conversation per test: the module's tests share one broker."""
    return f"c{uuid.uuid4().hex[:10]}"


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Where this test saves its screenshots (build/browser/<test>/ unless BROWSER_ARTIFACTS says)."""
    return ARTIFACTS / re.sub(r"[^\w.-]", "_", request.node.name)
