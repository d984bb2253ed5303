"""Fixtures for the session tests: realtime clients, the example agent served over HTTP, and waits on views."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol

import pytest

from client import Realtime, Timeouts
from client.codec import ui_message_codec
from client.session import ClientSession, View
from examples.agent import Agent, FakeLLM, HttpServer
from tests.support.broker import BrokerProcess
from tests.support.proxy import TcpProxy

FAST = Timeouts(request=5.0, publish=10.0, connect=5.0, http=5.0, disconnected_retry=0.2, suspended_retry=0.5,
                channel_retry=0.5)
WAIT = 10.0


class RealtimeFactory(Protocol):
    async def __call__(self, client_id: str | None = None, *, port: int | None = None, **kwargs: Any) -> Realtime: ...


@pytest.fixture
async def realtime(broker: BrokerProcess) -> AsyncIterator[RealtimeFactory]:
    clients: list[Realtime] = []

    async def make(client_id: str | None = None, *, port: int | None = None, **kwargs: Any) -> Realtime:
        if not any(k in kwargs for k in ("token", "auth_callback")):
            kwargs.setdefault("key", broker.key)
        client = Realtime(host=broker.host, port=port or broker.port, tls=False, client_id=client_id,
                          timeouts=FAST, **kwargs)
        clients.append(client)
        await client.connect()
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def proxy(broker: BrokerProcess) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the broker that a test can cut like a network would."""
    p = TcpProxy(target_port=broker.port).start()
    yield p
    p.stop()


class AgentFactory(Protocol):
    async def __call__(self, *, tokens: int = 20, delay: float = 0.01, owner_only_cancel: bool = True
                       ) -> tuple[Agent, str]: ...


@pytest.fixture
async def agent(realtime: RealtimeFactory) -> AsyncIterator[AgentFactory]:
    """The example agent (fake LLM) on its own connection, answering POST /invoke; returns (agent, url)."""
    started: list[tuple[Agent, HttpServer]] = []

    async def make(*, tokens: int = 20, delay: float = 0.01, owner_only_cancel: bool = True) -> tuple[Agent, str]:
        client = await realtime("agent")
        made = Agent(client, FakeLLM(tokens, delay), owner_only_cancel=owner_only_cancel)
        server = HttpServer(made)
        port = await server.start("127.0.0.1", 0)
        started.append((made, server))
        return made, f"http://127.0.0.1:{port}/invoke"

    yield make
    for made, server in started:
        await server.close()
        async with asyncio.timeout(WAIT):
            await made.close()


@pytest.fixture
async def device(realtime: RealtimeFactory) -> AsyncIterator[Callable[..., Any]]:
    """A connected ClientSession (UIMessage codec) for a device: `await device("alice", channel)`."""
    sessions: list[ClientSession] = []

    async def make(client_id: str | None, channel: str, *, port: int | None = None, **kwargs: Any) -> ClientSession:
        client = await realtime(client_id, port=port, **kwargs)
        session = ClientSession.for_realtime(client, channel, ui_message_codec())
        sessions.append(session)
        await session.connect()
        return session

    yield make
    for session in sessions:
        await session.close()


async def until(view: View, predicate: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    """Wait, on the view's own events, until `predicate()` holds."""
    changed = asyncio.Event()
    offs = [view.on("update", lambda _: changed.set()), view.on("run", lambda _: changed.set())]
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"{what} not reached within {timeout}s; messages: {view.messages()!r}; "
                             f"runs: {view.runs()!r}") from None
    finally:
        for off in offs:
            off()


def reply_text(view: View, index: int = -1) -> str:
    """The text parts of one visible message."""
    messages = view.messages()
    if not messages or len(messages) <= abs(index) - (1 if index < 0 else 0):
        return ""
    return "".join(p.get("text", "") for p in messages[index]["parts"] if p.get("type") == "text")


def user(text: str) -> dict[str, Any]:
    return {"kind": "user-message", "message": {"id": f"ui-{text[:8]}", "role": "user",
                                                "parts": [{"type": "text", "text": text}]}}
