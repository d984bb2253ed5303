"""The engine interface: an ordered, durable log per channel plus a publication hook.

Engines own positions: `append` assigns the next position of the channel atomically, stamps
each message's `serial` and `timestamp`, and returns once the publication is durable. Every
committed publication, from this process or another one sharing the store, is handed to the
listener in channel order; fan-out is driven only by that hook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..protocol.errors import AblyError
from ..protocol.message import Message
from ..protocol.serial import MAX_INDEX, Position


@dataclass(slots=True)
class Publication:
    """One committed append: all its messages share `position`."""

    channel: str
    position: Position
    messages: list[Message]


@dataclass(slots=True)
class HistoryQuery:
    """A history read. Bounds are inclusive unless named `after`/`cursor` (exclusive)."""

    direction: Literal["backwards", "forwards"] = "backwards"
    limit: int = 100
    start: int | None = None  # ms, on message timestamp
    end: int | None = None  # ms, on message timestamp
    after: int | None = None  # position seq: only messages strictly after it
    until: int | None = None  # position seq: only messages at or before it (untilAttach)
    cursor: tuple[int, int] | None = None  # (seq, index) of the last item of the previous page


Listener = Callable[[Publication], None]


def check_batch(messages: list[Message]) -> None:
    """A serial's index has three digits; a longer publication would break serial order."""
    if len(messages) > MAX_INDEX + 1:
        raise AblyError(40000, 400, f"At most {MAX_INDEX + 1} messages can be published at once")


class Engine(ABC):
    """A channel log store with a publication hook."""

    def __init__(self) -> None:
        self._listener: Listener | None = None

    def set_listener(self, listener: Listener) -> None:
        self._listener = listener

    def _notify(self, publication: Publication) -> None:
        if self._listener is not None:
            self._listener(publication)

    async def open(self) -> None:
        """Prepare the store (create schema, load state)."""

    async def close(self) -> None:
        """Flush pending commits and release resources."""

    @abstractmethod
    async def append(self, channel: str, messages: list[Message], now_ms: int) -> Publication:
        """Append `messages` as one publication at the channel's next position; durable on return."""

    @abstractmethod
    async def head(self, channel: str) -> Position:
        """The last committed position of `channel`, or the origin of its epoch when empty."""

    @abstractmethod
    async def history(self, channel: str, query: HistoryQuery) -> list[Message]:
        """Messages matching `query`, ordered by (position, index) in `query.direction`."""
