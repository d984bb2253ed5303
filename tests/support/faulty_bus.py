"""A fault injector around the engine's real bus: loses and reorders publications on purpose.

It wraps the bus the broker runs with (it is not a stand-in for it): every publication still
goes through the real bus unless this wrapper drops it, so a test sees exactly what an
at-most-once, reordering bus between processes would do to core.
"""

from __future__ import annotations

from broker.engine.base import Publication
from broker.engine.bus import Bus, Receiver
from broker.engine.scope import plain_name


class FaultyBus(Bus):
    """Drops every `drop_every`-th publication of the channel named `channel` (in any app) and
    delays every `swap_every`-th one until after the next (a swap of two); other logs pass
    untouched. Setting `faults = False` stops it."""

    def __init__(self, inner: Bus, channel: str, *, drop_every: int = 0, swap_every: int = 0) -> None:
        self.inner = inner
        self.channel = channel
        self.drop_every = drop_every
        self.swap_every = swap_every
        self.faults = True
        self.seen = 0
        self.dropped: list[Publication] = []
        self.swapped: list[Publication] = []
        self._delayed: Publication | None = None

    def connect(self, receiver: Receiver) -> None:
        self.inner.connect(receiver)

    def subscribe(self, channel: str) -> None:
        self.inner.subscribe(channel)

    def unsubscribe(self, channel: str) -> None:
        self.inner.unsubscribe(channel)

    def subscribe_prefix(self, prefix: str) -> None:
        self.inner.subscribe_prefix(prefix)

    def publish(self, publication: Publication) -> None:
        if publication.channel.startswith("\n") or plain_name(publication.channel) != self.channel:
            self.inner.publish(publication)
            return
        self.seen += 1
        if self.faults and self.drop_every and self.seen % self.drop_every == 0:
            self.dropped.append(publication)
            return
        if self.faults and self.swap_every and self.seen % self.swap_every == 0 and self._delayed is None:
            self._delayed = publication
            return
        self.inner.publish(publication)
        if self._delayed is not None:
            delayed, self._delayed = self._delayed, None
            self.swapped.append(delayed)
            self.inner.publish(delayed)
