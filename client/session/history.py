"""History hydration: page the channel backwards (until attach) and fold each page into the tree.

One cursor per tree, shared by every view and single-flight: walks queue behind each other and a
paused walk resumes where the previous one stopped. Pages arrive newest-first and are folded
oldest-first through the same decoder as the live subscription, whose guards make overlaps inert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..codec.errors import AitError, ErrorCode, ably_cause
from ..errors import AblyError
from ..types import Message
from .applier import WireApplier
from .channel import HistoryPage, SessionChannel
from .signals import AbortSignal

PAGE_SIZE = 100
RETRIES = 3
BACKOFF = 0.1


async def fetch_with_retry(fetch: Callable[[], Awaitable[HistoryPage | None]],
                           signal: AbortSignal | None = None) -> HistoryPage | None:
    """Three retries with 100/200/400 ms backoff, then HistoryFetchFailed (104011)."""
    last: BaseException | None = None
    for attempt in range(RETRIES + 1):
        if signal is not None and signal.aborted:
            raise AitError(ErrorCode.OPERATION_CANCELLED, 400, "unable to fetch history page; signal aborted")
        try:
            return await fetch()
        except Exception as exc:  # noqa: BLE001 - every failure is retried, then reported with its cause
            last = exc
            if attempt == RETRIES:
                break
            await asyncio.sleep(BACKOFF * 2 ** attempt)
    raise AitError(ErrorCode.HISTORY_FETCH_FAILED, 500, f"unable to fetch history page; {last}", ably_cause(last)
                   if last is not None else None)


class HistoryHydrator:
    def __init__(self, channel: SessionChannel, applier: WireApplier, page_size: int = PAGE_SIZE) -> None:
        self._channel = channel
        self._applier = applier
        self._page_size = page_size
        self._page: HistoryPage | None = None
        self._started = False
        self._exhausted = False
        self._folding = False
        self._lock = asyncio.Lock()

    def has_next(self) -> bool:
        if self._exhausted:
            return False
        return not self._started or (self._page is not None and self._page.has_next())

    def is_folding(self) -> bool:
        return self._folding

    async def fold_until(self, should_stop: Callable[[], bool], signal: AbortSignal | None = None) -> bool:
        """Fold pages until `should_stop()` or history ends; returns whether history is exhausted."""
        async with self._lock:
            if self._exhausted or (signal is not None and signal.aborted) or should_stop():
                return self._exhausted
            try:
                await self._walk(should_stop, signal)
            except AitError as exc:
                if exc.code == ErrorCode.OPERATION_CANCELLED:
                    raise
                raise AitError(exc.code, exc.status_code, f"unable to fold channel history; {exc.message}",
                               exc) from exc
            except AblyError as exc:
                raise AitError(exc.code, exc.status_code, f"unable to fold channel history; {exc.message}",
                               exc) from exc
        return self._exhausted

    async def _next_items(self, signal: AbortSignal | None) -> list[Message] | None:
        if not self._started:
            await self._channel.attach()
            self._page = await fetch_with_retry(
                lambda: self._channel.history(limit=self._page_size, until_attach=True), signal)
            self._started = True
            return list(self._page.items) if self._page is not None else None
        page = self._page
        if page is None or not page.has_next():
            self._page = None
            return None
        self._page = await fetch_with_retry(page.next, signal)
        return list(self._page.items) if self._page is not None else None

    async def _walk(self, should_stop: Callable[[], bool], signal: AbortSignal | None) -> None:
        while self.has_next() and not should_stop():
            if signal is not None and signal.aborted:
                return
            items = await self._next_items(signal)
            if items is None:
                break
            self._folding = True
            try:
                for message in reversed(items):
                    self._applier.fold_and_emit(message)
            finally:
                self._folding = False
        if not self.has_next() and not (signal is not None and signal.aborted):
            self._exhausted = True
