"""History through ably-js: Link-header pagination both ways, REST and realtime, untilAttach."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

TOTAL = 250
LIMIT = 100
LIVE = 5


def _flat(pages: list[dict[str, Any]]) -> list[list[Any]]:
    return [item for page in pages for item in page["items"]]


def _check_pages(pages: list[dict[str, Any]]) -> None:
    assert [len(p["items"]) for p in pages] == [100, 100, 50]
    assert [p["hasNext"] for p in pages] == [True, True, False]
    assert [p["isLast"] for p in pages] == [False, False, True]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_history_pagination_and_until_attach(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("history.mjs", {
        **broker_params(broker), "format": fmt, "channel": "interop:history",
        "total": TOTAL, "limit": LIMIT, "live": LIVE,
    }, timeout=60, brokers=(broker,))

    published = [f"m-{i}" for i in range(TOTAL)]
    serials = [s[0] for s in result["publishSerials"]]
    assert serials == sorted(serials) and len(set(serials)) == TOTAL

    for pages in (result["backwards"], result["forwards"], result["restForwards"]):
        _check_pages(pages)
    backwards = _flat(result["backwards"])
    assert [d for d, _, _ in backwards] == published[::-1]
    assert [s for _, s, _ in backwards] == serials[::-1]
    assert [n for _, _, n in backwards] == [f"n{i}" for i in range(TOTAL)][::-1]
    forwards = _flat(result["forwards"])
    assert [[d, s] for d, s, _ in forwards] == [[d, s] for d, s in zip(published, serials)]
    assert _flat(result["restForwards"]) == forwards

    # untilAttach: exactly the messages before the subscriber's attach point, none of the live ones.
    assert result["attachSerial"], "ATTACHED must carry a channelSerial"
    live = result["live"]
    assert [d for d, _ in live] == [f"live-{i}" for i in range(LIVE)]
    assert all(s > serials[-1] for _, s in live)
    until_attach = _flat(result["untilAttach"])
    assert [d for d, _, _ in until_attach] == published[::-1]
    _check_pages(result["untilAttach"])
