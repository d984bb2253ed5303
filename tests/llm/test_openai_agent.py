"""examples/openai_agent.py: its arguments, and the agent process against a local OpenAI-compatible
stub over real HTTP, answering a Python device through a real broker (with a tool call and the
second request built from the session's conversation)."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

import pytest
from openai.types.chat.chat_completion_chunk import ChatCompletionChunk, ChoiceDelta, ChoiceDeltaToolCall, \
    ChoiceDeltaToolCallFunction

from client.session import invoke_agent
from examples.openai_agent import OpenAIModel, model_from, parse_args
from tests.llm.openai_stub import OpenAIStub
from tests.llm.streams import ANSWER, _chunk, chat_answer
from tests.session.conftest import until, user
from tests.support.broker import ROOT, BrokerProcess

BROKER = ["--broker-port", "8080", "--key", "k.id:secret"]


def test_arguments_default_to_chat_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = parse_args([*BROKER, "--model", "m"])
    assert (args.base_url, args.api_key, args.api, args.clock_tool) == ("http://127.0.0.1:1/v1", "unused", "chat",
                                                                        False)
    model = model_from(parse_args([*BROKER, "--model", "m", "--base-url", "http://127.0.0.1:2/v1", "--api",
                                   "responses", "--system", "be brief", "--clock-tool"]))
    assert isinstance(model, OpenAIModel)
    assert (str(model.client.base_url), model.model, model.api, model.system, model.clock_tool) == (
        "http://127.0.0.1:2/v1/", "m", "responses", "be brief", True)


@pytest.mark.parametrize("bad", [["--model", "m", "--api", "completions"], ["--base-url", "http://x/v1"]])
def test_bad_arguments_are_refused(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args([*BROKER, *bad])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


def clock_call() -> list[ChatCompletionChunk]:
    return [_chunk(ChoiceDelta(tool_calls=[ChoiceDeltaToolCall(
        index=0, id="call_clock", type="function", function=ChoiceDeltaToolCallFunction(name="utc_now",
                                                                                      arguments="{}"))])),
            _chunk(ChoiceDelta(), "tool_calls")]


async def test_the_agent_process_streams_from_an_openai_compatible_server(broker: BrokerProcess, device) -> None:
    stub = OpenAIStub([clock_call, chat_answer])
    base_url = await stub.start()
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.openai_agent", "--broker-port", str(broker.port), "--key", broker.key,
        "--listen", "127.0.0.1:0", "--base-url", base_url, "--model", "stub-model", "--system", "be brief",
        "--clock-tool", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert agent.stdout is not None
        async with asyncio.timeout(15):
            banner = (await agent.stdout.readline()).decode()
        assert banner.startswith("agent listening on http://127.0.0.1:"), banner
        laptop = await device("alice-laptop", "conversations:openai")
        run = await laptop.view.send(user("what time is it?"))
        await invoke_agent(run.to_invocation(), banner.split()[-1])
        await until(laptop.view, lambda: bool(laptop.view.runs()) and laptop.view.runs()[-1].status == "complete")
    finally:
        agent.terminate()
        async with asyncio.timeout(10):
            await agent.wait()
        await stub.close()
    parts = laptop.view.messages()[1]["parts"]
    [tool] = [p for p in parts if p["type"] == "tool-utc_now"]
    assert tool["state"] == "output-available" and tool["input"] == {}
    assert datetime.fromisoformat(tool["output"]).tzinfo is not None
    assert parts[-1] == {"type": "text", "text": "".join(ANSWER)}
    first, second = stub.requests
    assert first["model"] == "stub-model" and first["stream"] is True
    assert first["messages"] == [{"role": "system", "content": "be brief"},
                                 {"role": "user", "content": "what time is it?"}]
    assert [t["function"]["name"] for t in first["tools"]] == ["utc_now"]
    assert second["messages"][2:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_clock", "type": "function", "function": {"name": "utc_now", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_clock", "content": tool["output"]}]
