"""The example programs as a user runs them: the agent CLI and the terminal client, as processes."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from examples.agent import FakeLLM
from tests.support.broker import ROOT, BrokerProcess


async def test_the_terminal_client_gets_an_answer_from_the_agent_process(broker: BrokerProcess) -> None:
    agent = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "agent.py"), "--broker-port", str(broker.port), "--key", broker.key,
        "--listen", "127.0.0.1:0", "--tokens", "12", "--delay-ms", "1", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        assert agent.stdout is not None
        async with asyncio.timeout(15):
            banner = (await agent.stdout.readline()).decode()
        assert banner.startswith("agent listening on http://127.0.0.1:")
        url = banner.split()[-1]
        chat = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples" / "chat.py"), "--broker-port", str(broker.port), "--key",
            broker.key, "--agent", url, "--channel", "conversations:cli", "--client-id", "alice-laptop", "--say",
            "ping", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(30):
            out, err = await chat.communicate()
        assert chat.returncode == 0, err.decode()
        text = out.decode()
        assert "[user] ping" in text and "".join(FakeLLM(12, 0).words("ping")) in text and "(complete)" in text
    finally:
        if agent.returncode is None:
            agent.terminate()
            async with asyncio.timeout(10):
                await agent.wait()


def _readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## AI sessions: two devices in a few lines\n\n```python\n", 1)[1].split("```", 1)[0]


def test_two_devices_py_is_the_readme_snippet_verbatim() -> None:
    imports, body = _readme_snippet().split("\n\n", 1)
    source = (ROOT / "examples" / "two_devices.py").read_text()
    assert imports in source
    assert textwrap.indent(body, "    ") in source


async def test_two_devices_py_runs_against_a_broker_and_the_agent(broker: BrokerProcess) -> None:
    agent = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "agent.py"), "--broker-port", str(broker.port), "--key", broker.key,
        "--listen", "127.0.0.1:0", "--tokens", "8", "--delay-ms", "1", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        assert agent.stdout is not None
        async with asyncio.timeout(15):
            url = (await agent.stdout.readline()).decode().split()[-1]
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
    finally:
        if agent.returncode is None:
            agent.terminate()
            async with asyncio.timeout(10):
                await agent.wait()


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
