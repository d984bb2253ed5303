"""ably-python 3.1.4 REST: time, publish (single, list, binary), history with pagination, errors.

ably-python raises 40103 itself for Basic auth over plain HTTP, so these tests reach the broker
through a TLS-terminating TcpProxy with a throw-away certificate trusted via SSL_CERT_FILE.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from ably import AblyRest
from ably.types.message import Message
from ably.util.exceptions import AblyException

from tests.support.broker import BrokerProcess

pytestmark = pytest.mark.interop

CHANNEL = "interop:py-rest"
FILLER = 120
PAGE = 50


@pytest.fixture(params=["json", "msgpack"])
def rest(request: pytest.FixtureRequest, broker: BrokerProcess,
         ably_rest_factory: Callable[[BrokerProcess, str], AblyRest]) -> AblyRest:
    return ably_rest_factory(broker, request.param)


def _view(m: Message) -> tuple[Any, Any]:
    data = bytes(m.data) if isinstance(m.data, (bytes, bytearray)) else m.data
    return m.name, data


async def _all_pages(first: Any) -> list[list[Message]]:
    pages, page = [first.items], first
    while page.has_next():
        page = await page.next()
        pages.append(page.items)
        assert len(pages) < 20, "pagination does not end"
    return pages


async def test_time(rest: AblyRest) -> None:
    server_ms = await rest.time()
    assert abs(server_ms - time.time() * 1000) < 60_000


async def test_publish_and_paginated_history(rest: AblyRest) -> None:
    channel = rest.channels.get(CHANNEL)
    single = await channel.publish("single", "hello ✓")
    listed = await channel.publish([Message("text", "in a list"), Message("object", {"a": [1, None, "x"]}),
                                    Message("bytes", b"\x00\x01\xfe\xff")])
    binary = await channel.publish("binary", bytes(range(256)))
    filler = [Message(f"f{i}", f"filler-{i}") for i in range(FILLER)]
    batches = [await channel.publish(filler[i:i + 40]) for i in range(0, FILLER, 40)]

    expected = [("single", "hello ✓"), ("text", "in a list"), ("object", {"a": [1, None, "x"]}),
                ("bytes", b"\x00\x01\xfe\xff"), ("binary", bytes(range(256)))]
    expected += [(f"f{i}", f"filler-{i}") for i in range(FILLER)]
    serials = single.serials + listed.serials + binary.serials + [s for b in batches for s in b.serials]
    assert len(serials) == len(expected) and all(serials)
    assert serials == sorted(serials) and len(set(serials)) == len(serials)

    forwards = await _all_pages(await channel.history(limit=PAGE, direction="forwards"))
    assert [len(p) for p in forwards] == [50, 50, 25]
    items = [m for p in forwards for m in p]
    assert [_view(m) for m in items] == expected
    assert [m.serial for m in items] == serials

    backwards = await _all_pages(await channel.history(limit=PAGE))
    assert [_view(m) for p in backwards for m in p] == expected[::-1]


async def test_errors(rest: AblyRest) -> None:
    with pytest.raises(AblyException) as bad_name:
        await rest.channels.get(":starts-with-colon").publish("x", "y")
    assert (bad_name.value.code, bad_name.value.status_code) == (40010, 400)

    # ably-python's REST publish does not check the size itself: this is the broker's rejection.
    with pytest.raises(AblyException) as too_big:
        await rest.channels.get(CHANNEL).publish("big", "x" * (70 * 1024))
    assert (too_big.value.code, too_big.value.status_code) == (40009, 413)

    page = await rest.channels.get(CHANNEL).history()
    assert page.items == []
