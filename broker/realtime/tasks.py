"""Work that must outlive the connection that started it, owned by the connection registry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


class Background:
    """Tasks kept alive until they end: a presence leave must still run after CLOSE cancelled the
    connection's own tasks. Shutdown can wait for them (`settled`)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def run(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def settled(self) -> None:
        """Return once every task started so far has ended."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))
