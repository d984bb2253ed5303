"""The example programs as a user runs them: the agent CLI and the terminal client, as processes."""

from __future__ import annotations

import asyncio
import sys

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
