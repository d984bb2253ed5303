"""Interop with the official @ably/ai-transport 0.8.0 (Node) on the same broker channel:
a JS client session with the Python agent, and a Python client session with the JS agent.
Both sides must render the same conversation."""

from __future__ import annotations

import json
from typing import Any

from client.session import ClientSession, invoke_agent
from examples.agent import FakeLLM
from tests.session.conftest import AgentFactory, reply_text, until, user
from tests.session.jsrun import JsProcess
from tests.support.broker import BrokerProcess

CHANNEL = "conversations:interop"


def rendered(session: ClientSession) -> list[dict[str, Any]]:
    """The view as the JS `getMessages()` JSON: [{codecMessageId, message}]."""
    return json.loads(json.dumps([{"codecMessageId": m.codec_message_id, "message": m.message}
                                  for m in session.view.get_messages()]))


async def test_js_client_session_with_the_python_agent(broker: BrokerProcess, device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=25, delay=0.005)
    watcher = await device("alice-tablet", CHANNEL)
    js = await JsProcess("client_session.mjs", {
        "host": broker.host, "port": broker.port, "key": broker.key, "clientId": "alice-browser",
        "channel": CHANNEL, "agentUrl": url, "prompts": ["hello from js", "and again"]}).start()
    try:
        ended = [await js.until("event", "run-ended", timeout=20) for _ in range(2)]
        result = await js.read(timeout=20)
    finally:
        await js.stop()
    assert [e["reason"] for e in ended] == ["complete", "complete"]
    texts = [m["message"]["parts"] for m in result["messages"]]
    assert [m["message"]["role"] for m in result["messages"]] == ["user", "assistant", "user", "assistant"]
    assert "".join(p["text"] for p in texts[1] if p["type"] == "text") == "".join(FakeLLM(25, 0).words("hello from js"))
    assert [r["status"] for r in result["runs"]] == ["complete", "complete"]
    assert {r["clientId"] for r in result["runs"]} == {"alice-browser"}
    await until(watcher.view, lambda: len(watcher.view.runs()) == 2
                and all(r.status == "complete" for r in watcher.view.runs()))
    assert rendered(watcher) == result["messages"]


async def test_python_client_session_with_the_js_agent(broker: BrokerProcess, device) -> None:
    laptop = await device("alice-laptop", CHANNEL)
    run = await laptop.view.send(user("hello from python"))
    js_agent = await JsProcess("agent_session.mjs", {
        "host": broker.host, "port": broker.port, "key": broker.key, "channel": CHANNEL,
        "invocation": run.to_invocation().to_json(), "tokens": 30, "delayMs": 5}).start()
    try:
        started = await js_agent.until("event", "started", timeout=20)
        done = await js_agent.until("event", "done", timeout=20)
    finally:
        await js_agent.stop()
    assert await run.wait_started(5) == started["runId"] == done["runId"]
    await until(laptop.view, lambda: laptop.view.runs()[0].status == "complete")
    assert reply_text(laptop.view) == "".join(FakeLLM(30, 0).words("hello from python"))
    [info] = laptop.view.runs()
    assert (info.client_id, info.status) == ("alice-laptop", "complete")
    assert laptop.view.get_messages()[1].message["parts"][0] == {"type": "step-start"}

    js_reader = await JsProcess("client_session.mjs", {
        "host": broker.host, "port": broker.port, "key": broker.key, "clientId": "alice-browser",
        "channel": CHANNEL, "loadHistory": 10}).start()
    try:
        seen = await js_reader.read(timeout=20)
    finally:
        await js_reader.stop()
    assert seen["messages"] == rendered(laptop)
    assert seen["runs"] == [{"runId": info.run_id, "clientId": "alice-laptop", "status": "complete"}]


async def test_invoke_agent_reports_a_refused_invocation(agent: AgentFactory) -> None:
    from client.codec import AitError, ErrorCode
    from client.session import Invocation
    _, url = await agent()
    try:
        await invoke_agent(Invocation("", ""), url.replace("/invoke", "/nowhere"))
    except AitError as exc:
        assert exc.code == ErrorCode.SESSION_SEND_FAILED and "404" in exc.message
    else:
        raise AssertionError("a 404 must raise SessionSendFailed")
