"""The channel registry: routes committed publications from the engine to live channels."""

from __future__ import annotations

from ..engine.base import Engine, Publication
from ..protocol.serial import Position
from .annotations import AnnotationHub
from .channel import Channel
from .frames import Framer
from .presence import PresenceHub


class Hub:
    def __init__(self, engine: Engine, framer: Framer, rollup_window: int = 0) -> None:
        self.engine = engine
        self._framer = framer
        self._rollup_window = rollup_window
        self._channels: dict[str, Channel] = {}
        engine.set_listener(self._on_publication)
        self.presence = PresenceHub(engine, framer, self._delivered)
        self.annotations = AnnotationHub(engine, framer, self._latest)

    def _delivered(self, name: str) -> Position | None:
        channel = self._channels.get(name)
        return channel.delivered if channel is not None else None

    def _latest(self, name: str) -> Position | None:
        channel = self._channels.get(name)
        return channel.latest if channel is not None else None

    def _on_publication(self, publication: Publication) -> None:
        channel = self._channels.get(publication.channel)
        if channel is not None:
            channel.on_publication(publication)
        elif publication.channel.startswith("\n"):  # a derived log (presence, annotations)
            self.annotations.on_publication(publication)

    def channel(self, name: str) -> Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = Channel(name, self.engine, self._framer, self._rollup_window)
        return channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def release(self, name: str) -> None:
        """Forget a channel nobody is attached to; its log stays in the engine."""
        channel = self._channels.get(name)
        if channel is not None and channel.idle:
            del self._channels[name]

    def __len__(self) -> int:
        return len(self._channels)
