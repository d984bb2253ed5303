"""The Python client and ably-js on one channel, publishing at the same time, see one order."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from client import Message
from tests.client.conftest import WAIT, RealtimeFactory, first
from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, node_problem, run_scenario

SCRIPT = Path(__file__).parent / "js" / "same_order.mjs"
BURST = 100


@pytest.mark.interop
@pytest.mark.parametrize(("py_format", "js_format"), [("msgpack", "json"), ("json", "msgpack")])
async def test_python_and_ablyjs_see_the_same_order(realtime_factory: RealtimeFactory, broker: BrokerProcess,
                                                    py_format: str, js_format: str) -> None:
    problem = node_problem()
    if problem:
        pytest.fail(problem)
    client = await realtime_factory(format=py_format)
    name = f"order-{uuid.uuid4().hex[:10]}"
    channel = client.channels.get(name)
    stream = channel.messages()
    await stream.started()
    params = {**broker_params(broker), "format": js_format, "channel": name, "count": BURST}
    node = asyncio.create_task(asyncio.to_thread(run_scenario, str(SCRIPT), params, brokers=(broker,)))

    seen: list[Message] = [await first(stream, lambda m: m.data == "js-ready", timeout=3 * WAIT)]
    py_results = await asyncio.gather(*(channel.publish("py", f"py-{i}") for i in range(BURST)))
    await channel.publish("done", "py-done")
    async with asyncio.timeout(3 * WAIT):
        async for message in stream:
            seen.append(message)
            if {"py-done", "js-done"} <= {m.data for m in seen}:
                break
    js = await node

    py_order = [(m.serial, m.data) for m in seen]
    js_order = [(m["serial"], m["data"]["value"]) for m in js["received"]]
    assert js_order[js_order.index(py_order[0]):] == py_order
    assert len(py_order) == 2 * BURST + 3
    assert {d for _, d in py_order} >= {f"py-{i}" for i in range(BURST)} | {f"js-{i}" for i in range(BURST)}
    serials = [str(s) for s, _ in py_order]
    assert serials == sorted(serials)
    by_data = dict((d, s) for s, d in py_order)
    assert [r.serials[0] for r in py_results] == [by_data[f"py-{i}"] for i in range(BURST)]
    assert js["serials"] == [by_data[f"js-{i}"] for i in range(BURST)]
