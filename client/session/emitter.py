"""Synchronous named events with unsubscribe handles (the session's `on(...)` surface)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class Emitter:
    """Handlers run inline, in registration order; one that raises is logged and the rest still run."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, event: str, handler: Handler) -> Callable[[], None]:
        self._handlers.setdefault(event, []).append(handler)

        def off() -> None:
            handlers = self._handlers.get(event)
            if handlers is not None and handler in handlers:
                handlers.remove(handler)

        return off

    def emit(self, event: str, value: Any = None) -> None:
        for handler in list(self._handlers.get(event, ())):
            try:
                handler(value)
            except Exception:
                log.exception("%s handler %r raised", event, handler)

    def clear(self) -> None:
        self._handlers.clear()
