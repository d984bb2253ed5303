"""Retention at the broker: count and age limits, and what resume and rewind do once messages are gone.

A resume whose cursor's successors were trimmed gets ATTACHED without RESUMED and error 90003
(attached at the live head); a cursor that is still complete resumes as usual. Rewind returns
what is still retained, without an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from broker.protocol.actions import Action, Flag
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

from .rest import history
from .test_resume_protocol import collect, open_client

KEEP = 5
TTL_SECONDS = 1
SWEEP_TIMEOUT = 10.0


def retention_broker(factory: Callable[..., BrokerProcess]) -> BrokerProcess:
    return factory(extra_args=["--retention", f"count:* max={KEEP}", "--retention", f"age:* ttl={TTL_SECONDS}"]).start()


async def publish(pub: WireClient, channel: str, data: list[str]) -> None:
    for d in data:
        await pub.ack(await pub.publish(channel, [{"name": "n", "data": d}]))


async def cursor_after_first(broker: BrokerProcess, channel: str, pub: WireClient) -> str:
    """A subscriber's channelSerial after the channel's first message."""
    sub, _ = await open_client(broker)
    await sub.attach(channel)
    await publish(pub, channel, ["m-0"])
    cursor = (await sub.expect(Action.MESSAGE))["channelSerial"]
    await sub.close()
    return str(cursor)


async def test_a_count_limit_keeps_the_newest_and_a_trimmed_cursor_is_a_discontinuity(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = retention_broker(broker_factory)
    pub, _ = await open_client(broker)
    cursor = await cursor_after_first(broker, "count:a", pub)
    await publish(pub, "count:a", [f"m-{i}" for i in range(1, 10)])
    assert [m["data"] for m in history(broker, "count:a")] == [f"m-{i}" for i in range(5, 10)]

    late, _ = await open_client(broker)
    attached = await late.attach("count:a", channelSerial=cursor)
    assert not attached["flags"] & Flag.RESUMED
    assert attached["error"]["code"] == 90003
    await publish(pub, "count:a", ["live"])
    assert [m["data"] for m in await collect(late, "count:a", 1)] == ["live"]

    rewound, _ = await open_client(broker)
    await rewound.attach("count:a", params={"rewind": "100"})
    assert [m["data"] for m in await collect(rewound, "count:a", KEEP)] == [f"m-{i}" for i in range(6, 10)] + ["live"]
    for c in (pub, late, rewound):
        await c.close()


async def test_a_cursor_whose_successors_are_retained_still_resumes(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = retention_broker(broker_factory)
    pub, _ = await open_client(broker)
    await publish(pub, "count:b", [f"old-{i}" for i in range(KEEP)])
    cursor = await cursor_after_first(broker, "count:b", pub)
    await publish(pub, "count:b", [f"m-{i}" for i in range(1, KEEP)])  # exactly KEEP after the cursor's

    back, _ = await open_client(broker)
    attached = await back.attach("count:b", channelSerial=cursor)
    assert attached["flags"] & Flag.RESUMED and "error" not in attached
    assert [m["data"] for m in await collect(back, "count:b", KEEP - 1)] == [f"m-{i}" for i in range(1, KEEP)]
    for c in (pub, back):
        await c.close()


async def test_a_ttl_removes_messages_from_history_rewind_and_resume(
        broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = retention_broker(broker_factory)
    pub, _ = await open_client(broker)
    cursor = await cursor_after_first(broker, "age:a", pub)
    await publish(pub, "age:a", ["m-1"])
    await publish(pub, "count:untouched", ["kept"])
    deadline = time.monotonic() + SWEEP_TIMEOUT
    while history(broker, "age:a"):  # the broker's sweeper runs once a second; its result is the event
        assert time.monotonic() < deadline, "messages past the TTL were not removed"
        await asyncio.sleep(0.2)
    assert [m["data"] for m in history(broker, "count:untouched")] == ["kept"]

    rewound, _ = await open_client(broker)
    rewind = await rewound.attach("age:a", params={"rewind": "10"})
    assert not rewind["flags"] & Flag.HAS_BACKLOG
    back, _ = await open_client(broker)
    resumed = await back.attach("age:a", channelSerial=cursor)
    assert not resumed["flags"] & Flag.RESUMED and resumed["error"]["code"] == 90003
    await publish(pub, "age:a", ["fresh"])
    assert [m["data"] for m in await collect(back, "age:a", 1)] == ["fresh"]
    assert [m["data"] for m in await collect(rewound, "age:a", 1)] == ["fresh"]
    for c in (pub, rewound, back):
        await c.close()
