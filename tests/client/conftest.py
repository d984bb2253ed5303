"""Fixtures for the Python client tests: clients against a real broker process, and a TCP proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar

import pytest

from client import EventStream, Realtime, Rest, Timeouts
from tests.support.broker import BrokerProcess
from tests.support.proxy import TcpProxy

T = TypeVar("T")

# Short retry delays so reconnect scenarios finish quickly; waits stay bounded.
FAST = Timeouts(request=5.0, publish=15.0, connect=5.0, http=5.0, disconnected_retry=0.2, suspended_retry=0.5,
                channel_retry=0.5)
WAIT = 10.0  # upper bound for any single expected event in a test


class RealtimeFactory(Protocol):
    def __call__(self, *, port: int | None = None, connect: bool = True, **kwargs: Any) -> Awaitable[Realtime]: ...


@pytest.fixture
async def realtime_factory(broker: BrokerProcess) -> AsyncIterator[RealtimeFactory]:
    """Realtime clients for the test's broker (or a proxy in front of it); all closed afterwards."""
    clients: list[Realtime] = []

    async def make(*, port: int | None = None, connect: bool = True, **kwargs: Any) -> Realtime:
        if not any(k in kwargs for k in ("token", "auth_callback", "auth_url")):
            kwargs.setdefault("key", broker.key)
        kwargs.setdefault("timeouts", FAST)
        client = Realtime(host=broker.host, port=port or broker.port, tls=False, **kwargs)
        clients.append(client)
        if connect:
            await client.connect()
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def rest_factory(broker: BrokerProcess) -> AsyncIterator[Callable[..., Rest]]:
    clients: list[Rest] = []

    def make(**kwargs: Any) -> Rest:
        if not any(k in kwargs for k in ("token", "auth_callback", "auth_url")):
            kwargs.setdefault("key", broker.key)
        kwargs.setdefault("timeouts", FAST)
        client = Rest(host=broker.host, port=broker.port, tls=False, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def proxy(broker: BrokerProcess) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the broker that the test can cut, stall or take down."""
    p = TcpProxy(target_port=broker.port).start()
    yield p
    p.stop()


async def take(stream: EventStream[T], count: int, timeout: float = WAIT) -> list[T]:
    """The next `count` items of `stream`, or fail after `timeout` seconds saying how many came."""
    items: list[T] = []
    try:
        async with asyncio.timeout(timeout):
            async for item in stream:
                items.append(item)
                if len(items) >= count:
                    break
    except TimeoutError:
        raise AssertionError(f"got {len(items)} of {count} expected events within {timeout}s: {items!r}") from None
    return items


async def first(stream: EventStream[T], predicate: Callable[[T], bool], timeout: float = WAIT) -> T:
    """The first item of `stream` matching `predicate`."""
    seen: list[T] = []
    try:
        async with asyncio.timeout(timeout):
            async for item in stream:
                if predicate(item):
                    return item
                seen.append(item)
    except TimeoutError:
        pass
    raise AssertionError(f"no matching event within {timeout}s; saw {seen!r}")
