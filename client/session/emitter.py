"""Synchronous named events with unsubscribe handles (the session's `on(...)` surface)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class Emitter:
    """Handlers run inline, in registration order; one that raises is logged and the rest still run.

    Each event's handlers are an immutable tuple replaced on `on`/`off`, so `emit` (once per streamed
    token) iterates a snapshot without copying it."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[Handler, ...]] = {}

    def on(self, event: str, handler: Handler) -> Callable[[], None]:
        self._handlers[event] = (*self._handlers.get(event, ()), handler)

        def off() -> None:
            handlers = self._handlers.get(event, ())
            if handler in handlers:
                index = handlers.index(handler)
                self._handlers[event] = handlers[:index] + handlers[index + 1:]

        return off

    def has(self, event: str) -> bool:
        """Whether anything listens: lets a caller skip building a value nobody would see."""
        return bool(self._handlers.get(event))

    def emit(self, event: str, value: Any = None) -> None:
        for handler in self._handlers.get(event, ()):
            try:
                handler(value)
            except Exception:
                log.exception("%s handler %r raised", event, handler)

    def clear(self) -> None:
        self._handlers.clear()
