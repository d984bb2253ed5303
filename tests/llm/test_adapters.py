"""The OpenAI (Chat Completions, Responses) and Anthropic (Messages) adapters end to end: typed SDK
streams piped by the example agent into a session on a real broker, rendered on a second Python
device and by the official @ably/ai-transport client (Node); and the next call's request, built from
the rendered conversation, validated against the SDK's own request types."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import ResponseInputParam
from pydantic import TypeAdapter

from client.session import invoke_agent
from examples.agent import Agent, HttpServer
from tests.llm.models import ScriptedModel
from tests.llm.streams import ANSWER, ARGS, CALL_ID, LEAD, OUTPUT, THINKING, chat_answer
from tests.session.conftest import until, user
from tests.session.jsrun import JsProcess
from tests.support.broker import BrokerProcess

KINDS = ["chat", "responses", "anthropic"]
REQUEST_TYPES = {"chat": list[ChatCompletionMessageParam], "responses": ResponseInputParam,
                 "anthropic": list[MessageParam]}
WEATHER = {"city": "Paris"}


def expected_parts() -> list[dict[str, Any]]:
    return [{"type": "step-start"},
            {"type": "reasoning", "text": "".join(THINKING)},
            {"type": "text", "text": "".join(LEAD)},
            {"type": "tool-get_weather", "toolCallId": CALL_ID, "state": "output-available", "input": WEATHER,
             "output": OUTPUT},
            {"type": "step-start"},
            {"type": "text", "text": "".join(ANSWER)}]


def expected_request(kind: str) -> list[dict[str, Any]]:
    """The second call's request: the question, the first step's text and tool call, the tool's output."""
    args, output = json.dumps(WEATHER), json.dumps(OUTPUT)
    if kind == "chat":
        return [{"role": "user", "content": "weather?"},
                {"role": "assistant", "content": "".join(LEAD), "tool_calls": [
                    {"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": args}}]},
                {"role": "tool", "tool_call_id": CALL_ID, "content": output}]
    if kind == "responses":
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
                {"type": "message", "role": "assistant", "content": "".join(LEAD)},
                {"type": "function_call", "call_id": CALL_ID, "name": "get_weather", "arguments": args},
                {"type": "function_call_output", "call_id": CALL_ID, "output": output}]
    return [{"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "".join(LEAD)},
                                              {"type": "tool_use", "id": CALL_ID, "name": "get_weather",
                                               "input": WEATHER}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": CALL_ID, "content": output,
                                          "is_error": False}]}]


@pytest.fixture
async def scripted(realtime) -> AsyncIterator[Any]:
    """Serve the example agent with a scripted model of one kind: `model, url = await scripted(kind)`."""
    served: list[tuple[Agent, HttpServer]] = []

    async def make(kind: str, scripts: list[Any] | None = None) -> tuple[ScriptedModel, str]:
        model = ScriptedModel(kind, scripts=scripts)
        agent = Agent(await realtime("agent"), model)
        server = HttpServer(agent)
        port = await server.start("127.0.0.1", 0)
        served.append((agent, server))
        return model, f"http://127.0.0.1:{port}/invoke"

    yield make
    for agent, server in served:
        await server.close()
        async with asyncio.timeout(10):
            await agent.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_tool_using_reply_renders_on_a_second_device(kind: str, device, scripted) -> None:
    model, url = await scripted(kind)
    laptop = await device("alice-laptop", f"conversations:{kind}")
    phone = await device("alice-phone", f"conversations:{kind}")
    run = await laptop.view.send(user("weather?"))
    await invoke_agent(run.to_invocation(), url)
    for view in (laptop.view, phone.view):
        await until(view, lambda v=view: bool(v.runs()) and v.runs()[-1].status == "complete", what="run complete")
    messages = phone.view.messages()
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["parts"] == expected_parts()
    assert laptop.view.messages() == messages
    first, second = model.requests
    assert second == expected_request(kind)
    TypeAdapter(REQUEST_TYPES[kind]).validate_python(second)  # the SDK's request type accepts it
    assert len(first) == 1  # the first call saw only the question
    assert "".join(ARGS) == json.dumps(WEATHER)


@pytest.mark.interop
@pytest.mark.parametrize("kind", KINDS)
async def test_the_js_client_renders_the_same_reply(kind: str, broker: BrokerProcess, device, scripted) -> None:
    _, url = await scripted(kind)
    channel = f"conversations:js-{kind}"
    watcher = await device("alice-tablet", channel)
    js = await JsProcess("client_session.mjs", {
        "host": broker.host, "port": broker.port, "key": broker.key, "clientId": "alice-browser",
        "channel": channel, "agentUrl": url, "prompts": ["weather?"]}).start()
    try:
        ended = await js.until("event", "run-ended", timeout=20)
        result = await js.read(timeout=20)
    finally:
        await js.stop()
    assert ended["reason"] == "complete"
    [question, reply] = [m["message"] for m in result["messages"]]
    assert question["role"] == "user" and reply["role"] == "assistant"
    assert reply["parts"] == expected_parts()
    await until(watcher.view, lambda: bool(watcher.view.runs()) and watcher.view.runs()[-1].status == "complete")
    assert watcher.view.messages()[1]["parts"] == reply["parts"]


async def test_a_model_stream_that_fails_ends_the_run_as_error_on_every_device(device, scripted) -> None:
    async def dropped() -> AsyncIterator[Any]:
        for chunk in chat_answer()[:2]:
            yield chunk
        raise openai.APIConnectionError(request=httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions"))

    _, url = await scripted("chat", [dropped])
    laptop = await device("alice-laptop", "conversations:fails")
    phone = await device("alice-phone", "conversations:fails")
    run = await laptop.view.send(user("weather?"))
    await invoke_agent(run.to_invocation(), url)
    for view in (laptop.view, phone.view):
        await until(view, lambda v=view: bool(v.runs()) and v.runs()[-1].status not in ("active", "pending"),
                    what="run ended")
    [ended] = phone.view.runs()
    assert ended.status == "error", ended
    assert phone.view.messages()[1]["parts"] == [{"type": "step-start"},
                                                 {"type": "text", "text": "".join(ANSWER[:2])}]
