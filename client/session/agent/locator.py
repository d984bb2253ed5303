"""Finding an invocation's trigger: the `ai-input` whose `event-id` the invocation names."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from ...codec import headers as h
from ...codec.errors import AitError, ErrorCode
from ...types import Message
from ..signals import AbortSignal
from ..tree import Tree


def locate_input_event(tree: Tree, event_id: str, signal: AbortSignal) -> asyncio.Future[Message]:
    """Resolves with the trigger once it is folded (already, from live, or from a history walk)."""
    found: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    found.add_done_callback(lambda f: f.cancelled() or f.exception())
    existing = tree.find_ably_message_by_event_id(event_id)
    if existing is not None:
        found.set_result(existing)
        return found

    def on_message(message: Message) -> None:
        if not found.done() and h.transport_headers(message).get(h.EVENT_ID) == event_id:
            found.set_result(message)

    def on_abort() -> None:
        if not found.done():
            found.set_exception(AitError(ErrorCode.OPERATION_CANCELLED, 400,
                                         "unable to look up input event; the run was cancelled"))

    off = tree.on("ably_message", on_message)
    remove = signal.add_listener(on_abort)
    found.add_done_callback(lambda _: (off(), remove()))
    return found


class Locatable(Protocol):
    @property
    def located(self) -> asyncio.Future[None]: ...

    @property
    def view(self) -> _Pager: ...


class _Pager(Protocol):
    def has_older(self) -> bool: ...

    async def load_older(self, limit: int = 10) -> object: ...


async def page_until_located(run: Locatable, *, input_event_id: str, max_pages: int = 20, page_size: int = 100,
                             trigger_wait: float = 5.0) -> None:
    """Page the run's view back until the trigger is folded; then wait up to `trigger_wait` seconds
    for it to arrive live; else InputEventNotFound (104010)."""
    located = run.located
    pages = 0
    while not located.done() and run.view.has_older() and pages < max_pages:
        pages += 1
        load: asyncio.Future[Any] = asyncio.ensure_future(run.view.load_older(page_size))
        waiting: list[asyncio.Future[Any]] = [load, located]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not load.done():
            await load  # let the page finish folding: the walk is single-flight
    if not located.done():
        await asyncio.wait({located}, timeout=trigger_wait)
    if not located.done():
        raise AitError(ErrorCode.INPUT_EVENT_NOT_FOUND, 504, f"unable to open run; trigger event {input_event_id} "
                                                             f"not located within {pages} history pages")
    await located
