"""Ephemeral messages (`extras.ephemeral: true`): delivered live, never stored.

They skip the engine entirely, so nothing puts them in history, rewind or a resume replay, and
they have no serial (their ACK answers `serials: [null, ...]`). They go out on the channel's
ordinary fan-out at the channel's latest position, so a subscriber's channelSerial stays a real
cursor into the stored stream. Only subscribers attached to this process see them: with an
engine shared by several processes, ephemeral messages do not cross processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..engine.base import Publication
from ..protocol.actions import MessageAction
from ..protocol.errors import AblyError
from ..protocol.message import Message

if TYPE_CHECKING:
    from .hub import Hub


def is_ephemeral(message: Message) -> bool:
    return bool(message.extras) and message.extras.get("ephemeral") is True  # type: ignore[union-attr]


def ephemeral_batch(messages: Sequence[Message]) -> bool:
    """True when every message is ephemeral; a batch mixing them with stored ones is refused,
    because one ACK cannot report a publish that was half stored."""
    flagged = [is_ephemeral(m) for m in messages]
    if not any(flagged):
        return False
    if not all(flagged):
        raise AblyError(40003, 400, "A publish may not mix ephemeral and persisted messages")
    if any(m.action != MessageAction.CREATE for m in messages):
        raise AblyError(40003, 400, "An update, delete or append cannot be ephemeral")
    return True


async def publish_ephemeral(hub: Hub, channel: str, messages: list[Message], now_ms: int) -> list[Message]:
    """Stamp `messages` and hand them to the channel's live subscribers, if it has any."""
    for message in messages:
        message.timestamp = now_ms
        message.serial = None
        message.version = None
    live = hub.get(channel)
    if live is None:
        return messages  # nobody attached here: nothing to deliver, nothing to keep
    position = live.latest
    if position is None:  # nothing flushed yet: the channel's stored head is its position
        head = await hub.head(channel)
        position = max(head, live.latest) if live.latest is not None else head
    live.on_ephemeral(Publication(channel, position, messages))
    return messages
