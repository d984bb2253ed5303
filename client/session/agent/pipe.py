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
    ("cancelled": `on_cancelled` may write final outputs, then open streams close as cancelled).

    The source is read in this task, so a token goes out in the same step that produced it (a
    read task per token cost two turns of the loop, and whatever else was ready ran between the
    model's yield and the publish). An abort while waiting for the source cancels that wait; an
    abort during a publish lets the publish finish."""
    iterator = aiter(source)
    task = asyncio.current_task()
    reading = interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        if reading and task is not None and not interrupted:
            interrupted = True
            task.cancel()

    remove = signal.add_listener(interrupt) if signal is not None else None
    first = True
    reason: str = "complete"
    error: BaseException | None = None
    try:
        while True:
            if signal is not None and signal.aborted:
                reason = "cancelled"
                if on_cancelled is not None:
                    outcome = on_cancelled(encoder.publish_output)
                    if outcome is not None:
                        await outcome
                await encoder.cancel_streams()
                break
            reading = True
            try:
                value = await anext(iterator)
            except StopAsyncIteration:
                if not interrupted:
                    await encoder.cancel_streams()
                    await encoder.close()
                    break
            except (Exception, asyncio.CancelledError):
                if not interrupted:
                    raise
                log.debug("the source's read ended on cancel", exc_info=True)  # its outcome is moot
            finally:
                reading = False
            if interrupted:  # the read was cut short (or its value came too late): the top of the loop cancels
                interrupted = False
                if task is not None:
                    task.uncancel()
                continue
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
        if remove is not None:
            remove()
        await _close(iterator)
    return StreamResult(reason, error)  # type: ignore[arg-type]
