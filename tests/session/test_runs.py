"""Run features beyond one prompt/one reply, against a real broker: steering a running reply, and a run
that suspends for a tool approval and resumes under the same run-id (ai-run-suspend / ai-run-resume)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from client.codec import ui_message_codec
from client.session import AgentSession, RunHooks, SendOptions, invoke_agent
from examples.agent import FakeLLM
from tests.session.conftest import AgentFactory, reply_text, until, user

CHANNEL = "conversations:runs"


async def test_a_steer_into_a_running_reply_is_answered_by_the_next_pass(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=60, delay=0.02)
    laptop = await device("alice-laptop", CHANNEL)
    run = await laptop.view.send(user("first"))
    await invoke_agent(run.to_invocation(), url)
    await run.wait_started(10)
    await until(laptop.view, lambda: len(reply_text(laptop.view)) > 10)
    steer = run.steer(user("also this"))
    async with asyncio.timeout(10):
        serial = await steer.published
        outcome = await steer.outcome
    assert serial and outcome.consumed and outcome.run_terminal_reason == "complete"
    await until(laptop.view, lambda: laptop.view.runs()[0].status == "complete")
    roles = [m["role"] for m in laptop.view.messages()]
    assert roles == ["user", "assistant", "user", "assistant"]  # the steer lives inside the run
    assert reply_text(laptop.view) == "".join(FakeLLM(60, 0).words("also this"))
    assert len(laptop.view.runs()) == 1 and len(laptop.view.runs()[0].steps) == 2


async def approval_flow(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for chunk in chunks:
        yield chunk


async def test_a_suspended_run_resumes_under_the_same_run_id(device, realtime) -> None:
    """A minimal tool-approval agent: the first invocation asks and suspends; the client answers into the
    run; the second invocation (a continuation) resumes the same run and finishes it."""
    laptop = await device("alice-laptop", CHANNEL)
    agent_client = await realtime("agent")
    agent_session = AgentSession.for_realtime(agent_client, CHANNEL, ui_message_codec())
    await agent_session.connect()
    try:
        first = await laptop.view.send(user("delete everything"))
        run = agent_session.create_run(first.to_invocation(), hooks=RunHooks())
        await run.page_until_located()
        await run.start()
        await run.pipe(approval_flow([
            {"type": "start"}, {"type": "start-step"},
            {"type": "tool-input-available", "toolCallId": "c1", "toolName": "wipe", "input": {"all": True}},
            {"type": "tool-approval-request", "toolCallId": "c1", "approvalId": "ap1"},
            {"type": "finish-step"}, {"type": "finish", "finishReason": "tool-calls"}]))
        await run.suspend()
        run_id = await first.wait_started(5)
        await until(laptop.view, lambda: laptop.view.runs()[0].status == "suspended")
        assistant = laptop.view.get_messages()[1]
        assert assistant.message["parts"][1]["state"] == "approval-requested"

        answer = laptop.codec.create_tool_approval_response(assistant.codec_message_id,
                                                            {"toolCallId": "c1", "approved": True})
        second = await laptop.view.send(answer, SendOptions(run_id=run_id))
        resumed = agent_session.create_run(second.to_invocation(), hooks=RunHooks())
        await resumed.page_until_located()
        await resumed.start()
        assert resumed.run_id == run_id and await second.wait_started(5) == run_id
        await resumed.pipe(approval_flow([
            {"type": "start"}, {"type": "start-step"},
            {"type": "tool-output-available", "toolCallId": "c1", "output": {"wiped": 3}},
            {"type": "finish-step"}, {"type": "finish"}]))
        await resumed.end("complete")
        await until(laptop.view, lambda: laptop.view.runs()[0].status == "complete")
        [info] = laptop.view.runs()
        assert info.run_id == run_id and len(info.steps) == 2
        tool = laptop.view.get_messages()[1].message["parts"][1]
        assert tool["state"] == "output-available" and tool["output"] == {"wiped": 3} and tool["input"] == {"all": True}
    finally:
        await agent_session.detach()
