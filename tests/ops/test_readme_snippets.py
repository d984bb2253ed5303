"""README.md's TLS and token snippets, run as written against a real broker (only the port changes).

ably-js and ably-python connect over HTTPS/WSS with a certificate for 127.0.0.1 from a test CA;
ably-python connects with a JWT over plain HTTP. Each client does a publish/subscribe round trip
and reads history, so a snippet that stops working fails here.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from ably import AblyRealtime, AblyRest
from ably.types.message import Message

from tests.ops.readme import snippet, with_port
from tests.support.broker import ROOT, BrokerProcess
from tests.support.node import broker_params, node_problem, run_scenario

WAIT = 10.0


async def _round_trip(rest: AblyRest, realtime: AblyRealtime, channel: str) -> list[Any]:
    """Realtime subscribes, REST publishes, realtime receives; REST reads the history."""
    received: asyncio.Queue[Message] = asyncio.Queue()
    try:
        await asyncio.wait_for(realtime.connection.once_async("connected"), WAIT)
        await asyncio.wait_for(realtime.channels.get(channel).subscribe(received.put_nowait), WAIT)
        await rest.channels.get(channel).publish("greeting", "hello")
        message = await asyncio.wait_for(received.get(), WAIT)
        history = await rest.channels.get(channel).history()
        return [message.data, [m.data for m in history.items]]
    finally:
        await asyncio.wait_for(realtime.close(), WAIT)
        await rest.close()


def _run(code: str, **names: str) -> dict[str, Any]:
    scope: dict[str, Any] = dict(names)
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own snippet
    return scope


async def test_ably_python_tls_snippet(tls_broker: BrokerProcess) -> None:
    scope = _run(with_port(snippet("tls-python"), 8443, tls_broker.port), KEY=tls_broker.key)
    assert await _round_trip(scope["rest"], scope["realtime"], "readme:tls") == ["hello", ["hello"]]


async def test_ably_python_token_snippet(broker: BrokerProcess) -> None:
    token = subprocess.run([sys.executable, "-m", "broker", "token", "--key", broker.key, "--client-id", "alice",
                            "--ttl", "1h"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    scope = _run(with_port(snippet("token-python"), 8080, broker.port), TOKEN=token.stdout.strip())
    assert await _round_trip(scope["rest"], scope["realtime"], "readme:token") == ["hello", ["hello"]]


@pytest.mark.interop
def test_ably_js_tls_snippet(tls_broker: BrokerProcess) -> None:
    problem = node_problem()
    if problem:
        pytest.fail(problem)
    code = with_port(snippet("tls-js"), 8443, tls_broker.port)
    result = run_scenario("readme_snippet.mjs", {**broker_params(tls_broker), "snippet": code,
                                                 "channel": "readme:js"}, brokers=(tls_broker,))
    assert result == {"received": "hello over tls", "history": ["hello over tls"]}
