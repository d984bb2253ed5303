"""Presence state for engines: per-channel member sets and the presence event log.

Single-process engines (memory, sqlite) keep member sets in process memory: a member lives only
as long as its connection, and connections die with the process, so there is nothing to
persist. Presence *history* goes into the engine's ordinary log under a key of its own space
(`presence_log`: a prefix no valid channel name can take, as channel names may not contain line
breaks), so it gets the same positions, durability and paging as messages, and never mixes with
the channel's message stream. Per-channel rules see through the prefix (`log_channel`): a
retention rule for `chat:*` trims the presence history of `chat:room` too, and only by its own
count. An engine shared by several processes overrides the presence methods of `Engine` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..protocol.actions import PresenceAction
from ..protocol.presence import PresenceMessage
from ..protocol.serial import Position
from .scope import plain_name

_LOG_PREFIX = "\npresence\n"


def presence_log(channel: str) -> str:
    """The log key holding `channel`'s presence events."""
    return _LOG_PREFIX + channel


def log_channel(key: str) -> str:
    """The channel name a log key belongs to (its own for a message log), for per-channel rules;
    an app's scope is seen through as well (engine/scope)."""
    return plain_name(key[len(_LOG_PREFIX):] if key.startswith(_LOG_PREFIX) else key)


@dataclass(slots=True)
class PresenceEvent:
    """Committed presence changes of one channel, in the order they were applied."""

    channel: str
    position: Position | None
    messages: list[PresenceMessage]


PresenceListener = Callable[[PresenceEvent], None]


class MemberSet:
    """The members of one channel, keyed (clientId, connectionId), in order of first entry."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], PresenceMessage] = {}

    def __len__(self) -> int:
        return len(self._members)

    def apply(self, message: PresenceMessage) -> PresenceMessage | None:
        """Apply one event; returns what subscribers should see, or None when nothing changed.

        Entering when already present is an update and updating when absent is an enter (as
        Ably does); a leave without data carries the member's last data; leaving when absent is
        a no-op, and so is an enter or update repeating the member's current message id (the
        SDKs re-enter with the same id after every reconnect).
        """
        current = self._members.get(message.key)
        if current is not None and message.id is not None and message.id == current.id \
                and message.action != PresenceAction.LEAVE:
            return None
        if message.action == PresenceAction.LEAVE:
            if current is None:
                return None
            del self._members[message.key]
            if message.data is None and message.encoding is None:
                message.data, message.encoding = current.data, current.encoding
            return message
        message.action = PresenceAction.UPDATE if current is not None else PresenceAction.ENTER
        self._members[message.key] = message
        return message

    def select(self, client_id: str | None = None, connection_id: str | None = None) -> list[PresenceMessage]:
        return [m for m in self._members.values()
                if (client_id is None or m.client_id == client_id)
                and (connection_id is None or m.connection_id == connection_id)]
