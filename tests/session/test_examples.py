"""The example programs as a user runs them: the agent CLI and the terminal client, as processes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

from examples.agent import FakeLLM
from tests.support.broker import ROOT, BrokerProcess


@contextlib.asynccontextmanager
async def agent_process(broker: BrokerProcess, tokens: int, delay_ms: int) -> AsyncIterator[str]:
    """examples/agent.py as a process with the fake model; yields its invoke URL."""
    agent = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "agent.py"), "--broker-port", str(broker.port), "--key", broker.key,
        "--listen", "127.0.0.1:0", "--tokens", str(tokens), "--delay-ms", str(delay_ms),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert agent.stdout is not None
        async with asyncio.timeout(15):
            banner = (await agent.stdout.readline()).decode()
        assert banner.startswith("agent listening on http://127.0.0.1:"), banner
        yield banner.split()[-1]
    finally:
        if agent.returncode is None:
            agent.terminate()
            async with asyncio.timeout(10):
                await agent.wait()


async def test_the_terminal_client_gets_an_answer_from_the_agent_process(broker: BrokerProcess) -> None:
    async with agent_process(broker, 12, 1) as url:
        chat = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples" / "chat.py"), "--broker-port", str(broker.port), "--key",
            broker.key, "--agent", url, "--channel", "conversations:cli", "--client-id", "alice-laptop", "--say",
            "ping", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(30):
            out, err = await chat.communicate()
        assert chat.returncode == 0, err.decode()
        text = out.decode()
        assert "[user] ping" in text and "".join(FakeLLM(12, 0).words("ping")) in text and "(complete)" in text


def _readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## AI sessions: two devices in a few lines\n\n```python\n", 1)[1].split("```", 1)[0]


def test_two_devices_py_is_the_readme_snippet_verbatim() -> None:
    imports, body = _readme_snippet().split("\n\n", 1)
    source = (ROOT / "examples" / "two_devices.py").read_text()
    assert imports in source
    assert textwrap.indent(body, "    ") in source


async def test_two_devices_py_runs_against_a_broker_and_the_agent(broker: BrokerProcess) -> None:
    async with agent_process(broker, 8, 1) as url:
        # The snippet as written, with only the ports of `make run` and the agent's default moved.
        source = (ROOT / "examples" / "two_devices.py").read_text()
        source = source.replace("port=8080", f"port={broker.port}").replace("http://127.0.0.1:9000/invoke", url)
        run = await asyncio.create_subprocess_exec(
            sys.executable, "-c", source, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=ROOT, env={**os.environ, "TETHER_KEY": broker.key})
        async with asyncio.timeout(30):
            out, err = await run.communicate()
        assert run.returncode == 0, err.decode()
        last = out.decode().strip().splitlines()[-1]
        assert "".join(FakeLLM(8, 0).words("What is 2+2?")).strip()[:20] in last


def test_examples_default_to_the_broker_of_make_run(tmp_path: Path) -> None:
    """Without --key, the agent and the terminal client read data/dev-key.txt; without it, one clear line."""
    for script in ("agent.py", "chat.py"):
        missing = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--say", "x"]
                                 if script == "chat.py" else [sys.executable, str(ROOT / "examples" / script)],
                                 cwd=tmp_path, capture_output=True, text=True, timeout=30,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert missing.returncode == 2 and "make run" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dev-key.txt").write_text("app.key:secretsecretsecret\n")
    import examples.broker_options as options

    parser = options.add_broker_options(argparse.ArgumentParser())
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        args = options.parse_with_key(parser, [])
    finally:
        os.chdir(cwd)
    assert (args.key, args.broker_port, args.broker_host) == ("app.key:secretsecretsecret", 8080, "127.0.0.1")


class Terminal:
    """examples/chat.py as a person runs it: lines typed on stdin, what it prints read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out = ""
        self.err = ""

    @classmethod
    async def start(cls, broker: BrokerProcess, agent_url: str, client_id: str, channel: str) -> Terminal:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples" / "chat.py"), "--broker-port", str(broker.port), "--key",
            broker.key, "--agent", agent_url, "--channel", channel, "--client-id", client_id,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(process)

    async def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def expect(self, text: str, *, stream: str = "out", timeout: float = 20) -> None:
        reader = self.process.stdout if stream == "out" else self.process.stderr
        assert reader is not None
        async with asyncio.timeout(timeout):
            while text not in getattr(self, stream):
                chunk = await reader.read(4096)
                assert chunk, f"the terminal exited before printing {text!r}: {self.out}{self.err}"
                setattr(self, stream, getattr(self, stream) + chunk.decode())

    async def quit(self) -> None:
        await self.type("/quit")
        async with asyncio.timeout(15):
            out, err = await self.process.communicate()
        self.out += out.decode()
        self.err += err.decode()
        assert self.process.returncode == 0, self.err


async def test_the_terminal_client_says_what_happened(broker: BrokerProcess) -> None:
    """Connected, each reply marked complete, a refused cancel said out loud, an unreachable agent an
    error line the session survives, and a clean exit without a continuity error."""
    async with agent_process(broker, 40, 60) as url:
        alice = await Terminal.start(broker, url, "alice-laptop", "conversations:t")
        await alice.expect("connected to 127.0.0.1:")
        bob = await Terminal.start(broker, url, "bob-phone", "conversations:t")
        await bob.expect("connected to 127.0.0.1:")

        await alice.type("tell me a story")
        await bob.expect("token-2 ")  # alice's run is streaming on bob's screen
        await bob.type("/cancel all")
        await bob.expect("the agent did not cancel alice-laptop's run", stream="err")
        await alice.expect("(complete)")

        lost = await Terminal.start(broker, "http://127.0.0.1:9/invoke", "carol-x", "conversations:t2")
        await lost.expect("connected to")
        await lost.type("anyone there?")
        await lost.expect("unable to invoke agent", stream="err")
        await lost.type("/who")
        await lost.expect("carol-x")  # the session is still up after the failed invoke
        for terminal in (alice, bob, lost):
            await terminal.quit()
            assert "Traceback" not in terminal.err
            assert "continuity" not in terminal.err.lower()
        assert alice.err == ""
