"""Pipe a model's output stream through a codec encoder, stopping promptly on abort."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

from ...codec.types import Encoder, Event
from ..signals import AbortSignal
from ..types import StreamResult

log = logging.getLogger(__name__)

OnCancelled = Callable[[Callable[[Event], Awaitable[None]]], Awaitable[None] | None]


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except (Exception, asyncio.CancelledError):
            log.debug("closing the source failed", exc_info=True)


async def pipe_stream(source: AsyncIterable[Event], encoder: Encoder, signal: AbortSignal | None,
                      on_cancelled: OnCancelled | None = None,
                      before_first_write: Callable[[], Awaitable[None]] | None = None) -> StreamResult:
    """Publish each event until the source ends ("complete"), raises ("error") or the signal fires
    ("cancelled": `on_cancelled` may write final outputs, then open streams close as cancelled)."""
    iterator = aiter(source)
    aborted = asyncio.ensure_future(signal.wait()) if signal is not None else None
    first = True
    reason: str = "complete"
    error: BaseException | None = None
    try:
        while True:
            read = asyncio.ensure_future(anext(iterator))
            waiting = {read} if aborted is None else {read, aborted}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not read.done():
                read.cancel()
                try:
                    await read
                except (Exception, asyncio.CancelledError):  # the abandoned read's outcome is moot
                    log.debug("the source's pending read ended on cancel", exc_info=True)
                reason = "cancelled"
                if on_cancelled is not None:
                    outcome = on_cancelled(encoder.publish_output)
                    if outcome is not None:
                        await outcome
                await encoder.cancel_streams()
                break
            try:
                value = read.result()
            except StopAsyncIteration:
                await encoder.cancel_streams()
                await encoder.close()
                break
            if first:
                first = False
                if before_first_write is not None:
                    await before_first_write()
            await encoder.publish_output(value)
    except Exception as exc:  # noqa: BLE001 - a model error ends the pipe with reason "error", never raises
        reason, error = "error", exc
        log.warning("pipe stream error: %s", exc)
        try:
            await encoder.close()
        except Exception:
            log.debug("encoder close after error failed", exc_info=True)
    finally:
        if aborted is not None and not aborted.done():
            aborted.cancel()
        await _close(iterator)
    return StreamResult(reason, error)  # type: ignore[arg-type]
