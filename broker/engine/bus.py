"""The channel bus port: how committed publications reach the processes that serve a channel.

Core subscribes a channel when it gets its first local subscriber and unsubscribes it when the
last one goes; the bus hands the receiver every publication of a subscribed channel (or of a
log under a subscribed prefix: derived logs such as annotations). A bus between processes is
assumed at-most-once and unordered across channels, so a publication carries its position and
the position before it in its log (`Publication.previous`): core notices a jump and reads what
was lost from the log (core/channel). The bus carries publications, never their meaning.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Publication

Receiver = Callable[["Publication"], None]


class Bus(ABC):
    """Delivery of committed publications to the one receiver of this process (the hub)."""

    @abstractmethod
    def connect(self, receiver: Receiver) -> None:
        """Set the callback that hears publications of subscribed channels."""

    @abstractmethod
    def subscribe(self, channel: str) -> None:
        """Start delivering `channel`'s publications (its first local subscriber arrived)."""

    @abstractmethod
    def unsubscribe(self, channel: str) -> None:
        """Stop delivering `channel`'s publications (its last local subscriber left)."""

    @abstractmethod
    def subscribe_prefix(self, prefix: str) -> None:
        """Deliver the publications of every log whose key starts with `prefix`."""

    @abstractmethod
    def publish(self, publication: Publication) -> None:
        """Hand a committed publication to every process subscribed to its channel."""


class LocalBus(Bus):
    """The in-process bus of the memory and SQLite engines: synchronous, in commit order, and
    only for subscribed channels."""

    def __init__(self) -> None:
        self._receiver: Receiver | None = None
        self._channels: set[str] = set()
        self._prefixes: tuple[str, ...] = ()

    def connect(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    def subscribe_prefix(self, prefix: str) -> None:
        if prefix not in self._prefixes:
            self._prefixes += (prefix,)

    def subscribed(self, channel: str) -> bool:
        return channel in self._channels or channel.startswith(self._prefixes)

    def publish(self, publication: Publication) -> None:
        if self._receiver is not None and self.subscribed(publication.channel):
            self._receiver(publication)
