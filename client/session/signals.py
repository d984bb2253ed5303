"""AbortSignal/AbortController, the way the JS SDK passes cancellation to an agent's model call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class AbortSignal:
    def __init__(self) -> None:
        self.aborted = False
        self.reason: BaseException | None = None
        self._listeners: list[Callable[[], None]] = []
        self._event: asyncio.Event | None = None

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` once on abort (now, if already aborted); returns a remover."""
        if self.aborted:
            listener()
            return lambda: None
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def wait(self) -> None:
        """Return once aborted."""
        if self.aborted:
            return
        if self._event is None:
            self._event = asyncio.Event()
        await self._event.wait()

    def _abort(self, reason: BaseException | None) -> None:
        if self.aborted:
            return
        self.aborted = True
        self.reason = reason
        if self._event is not None:
            self._event.set()
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("abort listener raised")

    @staticmethod
    def any_of(*signals: AbortSignal) -> AbortSignal:
        """A signal that aborts when any of `signals` does."""
        combined = AbortSignal()

        def forward(source: AbortSignal) -> Callable[[], None]:
            return lambda: combined._abort(source.reason)

        for signal in signals:
            signal.add_listener(forward(signal))
        return combined


class AbortController:
    def __init__(self) -> None:
        self.signal = AbortSignal()

    def abort(self, reason: BaseException | None = None) -> None:
        self.signal._abort(reason)
