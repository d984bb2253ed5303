"""Contract of the bus port (engine/bus), run against every engine's in-process bus.

Core relies on exactly this: a publication reaches the receiver only while its channel (or a
prefix of its key) is subscribed, and it carries the position before it in its log, appends
and mutations alike, so a lost one shows as a jump on the next.
"""

from __future__ import annotations

import asyncio

from broker.engine.base import Engine, HistoryQuery, Publication
from broker.protocol.actions import MessageAction
from broker.protocol.message import Message

TIMEOUT = 10.0


def allow(_: Message) -> None:
    """Every mutation is authorised here: the bus, not authorisation, is under test."""


async def test_only_subscribed_channels_are_delivered(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard: list[str] = []
        engine.bus.connect(lambda pub: heard.append(str(pub.messages[0].data)))
        await engine.append("quiet", [Message(data="before")], 1000)
        engine.bus.subscribe("live")
        await engine.append("live", [Message(data="live-1")], 1001)
        await engine.append("quiet", [Message(data="other")], 1002)
        engine.bus.unsubscribe("live")
        await engine.append("live", [Message(data="after")], 1003)
        assert heard == ["live-1"]


async def test_a_prefix_subscription_delivers_every_log_under_it(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard: list[str] = []
        engine.bus.connect(lambda pub: heard.append(pub.channel))
        engine.bus.subscribe_prefix("\nderived\n")
        for key in ("\nderived\na", "\nderived\nb", "\nother\na", "derived"):
            await engine.append(key, [Message(data="x")], 1000)
        assert heard == ["\nderived\na", "\nderived\nb"]


async def test_each_publication_names_the_position_before_it_in_its_log(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard: list[Publication] = []
        engine.bus.connect(heard.append)
        engine.bus.subscribe("chain")
        engine.bus.subscribe("side")
        first = await engine.append("chain", [Message(data="a")], 1000)
        await engine.append("side", [Message(data="s")], 1000)
        serial = str(first.messages[0].serial)
        await engine.mutate("chain", Message(action=MessageAction.APPEND, serial=serial, data="b"), 1000, allow)
        await engine.append("chain", [Message(data="c"), Message(data="d")], 1001)
        await engine.mutate("chain", Message(action=MessageAction.UPDATE, serial=serial, data="e"), 1001, allow)
        chain = [pub for pub in heard if pub.channel == "chain"]
        assert len(chain) == 4
        assert chain[0].previous == 0
        assert [pub.previous for pub in chain[1:]] == [pub.position.seq for pub in chain[:-1]]
        side = [pub for pub in heard if pub.channel == "side"]
        assert [pub.previous for pub in side] == [0], "each log has its own chain"


async def test_a_gap_named_by_previous_can_be_read_back_from_the_log(engine: Engine) -> None:
    """What core does on a jump: replay (previous delivered, previous of the new one]."""
    async with asyncio.timeout(TIMEOUT):
        heard: list[Publication] = []
        engine.bus.connect(heard.append)
        engine.bus.subscribe("gap")
        for i in range(4):
            await engine.append("gap", [Message(data=f"m{i}")], 1000 + i)
        delivered, lost, last = heard[0], heard[1:3], heard[3]
        missing = await engine.replay("gap", delivered.position.seq, last.previous)
        assert [m.serial for m in missing] == [pub.messages[0].serial for pub in lost]
        forwards = await engine.history("gap", HistoryQuery(direction="forwards", after=delivered.position.seq,
                                                            until=last.previous))
        assert [m.data for m in forwards] == ["m1", "m2"]


async def test_a_repeated_idempotent_publish_takes_no_position(engine: Engine) -> None:
    async with asyncio.timeout(TIMEOUT):
        heard: list[Publication] = []
        engine.bus.connect(heard.append)
        engine.bus.subscribe("once")
        await engine.append("once", [Message(data="a")], 1000, idempotency_keys=["k"])
        await engine.append("once", [Message(data="a")], 1001, idempotency_keys=["k"])
        await engine.append("once", [Message(data="b")], 1002)
        assert len(heard) == 2
        assert heard[1].previous == heard[0].position.seq


async def test_a_gap_holding_a_mutation_of_an_older_message_reads_back_its_aggregate(engine: Engine) -> None:
    """Mutations share their message's serial but take their own position: a lost one is found
    by position, as the message after it, not by the message's creation."""
    async with asyncio.timeout(TIMEOUT):
        heard: list[Publication] = []
        engine.bus.connect(heard.append)
        engine.bus.subscribe("mut")
        original = await engine.append("mut", [Message(data="a")], 1000)
        serial = str(original.messages[0].serial)
        await engine.mutate("mut", Message(action=MessageAction.APPEND, serial=serial, data="b"), 1001, allow)
        last = await engine.append("mut", [Message(data="c")], 1002)
        missing = await engine.replay("mut", original.position.seq, last.previous)
        assert [(m.serial, m.data) for m in missing] == [(serial, "ab")]
        assert missing[0].version is not None and missing[0].version["serial"] == heard[1].position.serial(0)
