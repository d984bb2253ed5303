"""Listeners and async streams: the two ways to consume events (states, messages, presence).

Sync listeners run inline, in order. Async listeners get a worker each, so one listener's
awaits never hold up delivery to others yet still see its events in order. Streams are held
weakly by their source: an `async for` loop keeps its stream alive, and an abandoned stream
stops receiving when it is garbage collected.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from .errors import AblyError

log = logging.getLogger(__name__)

V = TypeVar("V")
Listener = Callable[[V], Any]
"""A callback taking one event; may be a plain function or a coroutine function."""


class _Delivery(Generic[V]):
    """Calls one listener; async listeners are fed through a queue to a worker task."""

    __slots__ = ("_queue", "_tasks", "_worker", "listener", "once", "predicate")

    def __init__(self, listener: Listener[V], predicate: Callable[[V], bool] | None, once: bool) -> None:
        self.listener = listener
        self.predicate = predicate
        self.once = once
        is_async = inspect.iscoroutinefunction(listener) or inspect.iscoroutinefunction(type(listener).__call__)
        self._queue: asyncio.Queue[V] | None = asyncio.Queue() if is_async else None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    def __call__(self, value: V) -> None:
        if self._queue is not None:
            self._queue.put_nowait(value)
            if self._worker is None:
                self._worker = asyncio.get_running_loop().create_task(self._work())
            return
        try:
            result = self.listener(value)
        except Exception:
            log.exception("Listener %r raised", self.listener)
            return
        if result is not None and inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Listener %r raised", self.listener, exc_info=task.exception())

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            value = await self._queue.get()
            try:
                await self.listener(value)
            except Exception:
                log.exception("Listener %r raised", self.listener)

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        for task in self._tasks:
            task.cancel()


_END = object()


class EventStream(Generic[V]):
    """An async iterator over events from the moment it was created.

    It ends (StopAsyncIteration) when its source ends normally and raises the AblyError when
    the source fails. `start` runs before the first item is awaited (e.g. attaching a channel).
    """

    def __init__(self, remove: Callable[[EventStream[V]], None], predicate: Callable[[V], bool] | None = None,
                 start: Callable[[], Awaitable[Any]] | None = None) -> None:
        self._remove = remove
        self._predicate = predicate
        self._start = start
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: AblyError | None = None
        self._closed = False

    def _push(self, value: V) -> None:
        if self._closed or (self._predicate is not None and not self._predicate(value)):
            return
        self._items.append(value)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self, error: AblyError | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        self._error = error
        self._items.append(_END)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def started(self) -> None:
        if self._start is not None:
            start, self._start = self._start, None
            await start()

    def __aiter__(self) -> EventStream[V]:
        return self

    async def __anext__(self) -> V:
        if self._start is not None:
            await self.started()
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items[0]
        if item is _END:
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        self._items.popleft()
        return item  # type: ignore[no-any-return]

    def pending(self) -> int:
        """Events received and not yet consumed."""
        return len(self._items) - (1 if self._items and self._items[-1] is _END else 0)

    def close(self) -> None:
        """Stop receiving; iteration ends after the events already queued."""
        self._remove(self)
        self._end()

    async def __aenter__(self) -> EventStream[V]:
        await self.started()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventEmitter(Generic[V]):
    """Fans one kind of event out to listeners and streams."""

    def __init__(self) -> None:
        self._deliveries: list[_Delivery[V]] = []
        self._streams: weakref.WeakSet[EventStream[V]] = weakref.WeakSet()
        self._once = False  # whether some delivery is a `once`: only then does a batch go value by value

    def on(self, listener: Listener[V], predicate: Callable[[V], bool] | None = None) -> None:
        self._deliveries.append(_Delivery(listener, predicate, once=False))

    def once(self, listener: Listener[V], predicate: Callable[[V], bool] | None = None) -> None:
        self._deliveries.append(_Delivery(listener, predicate, once=True))
        self._once = True

    def off(self, listener: Listener[V] | None = None) -> None:
        """Remove one listener (every registration of it), or all listeners."""
        keep: list[_Delivery[V]] = []
        for delivery in self._deliveries:
            if listener is None or delivery.listener == listener:
                delivery.stop()
            else:
                keep.append(delivery)
        self._set_deliveries(keep)

    def _set_deliveries(self, deliveries: list[_Delivery[V]]) -> None:
        self._deliveries = deliveries
        self._once = any(d.once for d in deliveries)

    def stream(self, predicate: Callable[[V], bool] | None = None,
               start: Callable[[], Awaitable[Any]] | None = None) -> EventStream[V]:
        stream = EventStream(self._streams.discard, predicate, start)
        self._streams.add(stream)
        return stream

    def emit(self, value: V) -> None:
        spent: list[_Delivery[V]] = []
        for delivery in self._deliveries:
            if delivery.predicate is not None and not delivery.predicate(value):
                continue
            delivery(value)
            if delivery.once:
                spent.append(delivery)
        if spent:
            self._set_deliveries([d for d in self._deliveries if d not in spent])
        if self._streams:  # iterating a WeakSet costs more than a delivery
            for stream in list(self._streams):
                stream._push(value)

    def emit_many(self, values: list[V]) -> None:
        """Deliver a batch: each listener gets each value, in order (one pass per listener)."""
        if self._once:
            for value in values:
                self.emit(value)
            return
        for delivery in self._deliveries:
            predicate = delivery.predicate
            for value in values:
                if predicate is None or predicate(value):
                    delivery(value)
        if self._streams:
            for stream in list(self._streams):
                for value in values:
                    stream._push(value)

    def end_streams(self, error: AblyError | None = None) -> None:
        for stream in list(self._streams):
            stream._end(error)
        self._streams = weakref.WeakSet()
