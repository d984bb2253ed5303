"""Scoped logs (engine/scope): dropping a scope removes its logs and nothing of another scope."""

from __future__ import annotations

from broker.engine.base import Engine, HistoryQuery
from broker.engine.presence import presence_log
from broker.engine.retention import RetentionPolicy, RetentionRule
from broker.engine.scope import scoped, system_key
from broker.protocol.actions import PresenceAction
from broker.protocol.message import Message
from broker.protocol.presence import PresenceMessage

from .conftest import EngineKind

NOW = 1_700_000_000_000


async def test_drop_scope_removes_its_logs_members_and_ids_only(engine: Engine, kind: EngineKind) -> None:
    mine, theirs = scoped("a", "room"), scoped("b", "room")
    for key in (mine, theirs, "room"):
        await engine.append(key, [Message(id="dup", data=key)], NOW, idempotency_keys=["dup"])
        await engine.presence_update(key, [PresenceMessage(PresenceAction.ENTER, "ann", "c1", id="c1:0:0")], NOW)
    head = await engine.head(mine)
    assert await engine.drop_scope("a") == 2  # the message and the presence event
    assert kind.stored_serials(engine, mine) == [] and kind.stored_serials(engine, presence_log(mine)) == []
    assert await engine.history(mine, HistoryQuery()) == []
    assert await engine.presence_members(mine) == []
    assert (await engine.floor(mine)).seq == head.seq  # an old cursor is a discontinuity
    for key in (theirs, "room"):
        assert [m.data for m in await engine.history(key, HistoryQuery())] == [key]
        assert [m.client_id for m in await engine.presence_members(key)] == ["ann"]
    again = await engine.append(mine, [Message(id="dup", data="new")], NOW + 1, idempotency_keys=["dup"])
    assert again.position.seq > head.seq  # a fresh message, not a repeat, and no position reused
    assert [m.data for m in await engine.history(mine, HistoryQuery())] == ["new"]


def test_retention_sees_the_plain_name_and_spares_the_system_scope() -> None:
    policy = RetentionPolicy((RetentionRule("chat:*", max_count=1), RetentionRule("*", ttl_ms=1000)))
    assert policy.max_count(scoped("a", "chat:x")) == 1
    assert policy.max_count(presence_log(scoped("a", "chat:x"))) == 1
    assert policy.rule_for(system_key("apps")) is None
