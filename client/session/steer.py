"""Steering: a follow-up input into an active run, and whether the agent answered it.

Client side (`SteerCoordinator`): publish the input into the run, resolve `published` from its
echo, and `outcome` at the run's next suspend/end from the `steer-codec-message-ids` stamps.
Agent side (`RunSteerTracker`): steers folded into the run wait until `has_input()` drains them;
the next pass stamps their ids on its outputs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..codec import headers as h
from ..codec.errors import AitError, ErrorCode, ably_cause
from ..codec.types import Event, WriteOptions
from ..errors import AblyError
from ..types import Message
from .headers import new_id, transport_headers


@dataclass(frozen=True, slots=True)
class SteerOutcome:
    consumed: bool
    run_terminal_reason: str | None = None


@dataclass(slots=True)
class SteerResult:
    """`await result.published` -> the echo's serial; `await result.outcome` -> SteerOutcome."""

    published: asyncio.Future[str | None]
    outcome: asyncio.Future[SteerOutcome]


def _quiet(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class SteerCoordinator:
    def __init__(self, publish: Callable[[Event, WriteOptions], Awaitable[None]],
                 client_id: Callable[[], str | None], is_closed: Callable[[], bool]) -> None:
        self._publish = publish
        self._client_id = client_id
        self._is_closed = is_closed
        self._awaiting_echo: dict[str, tuple[str, SteerResult]] = {}
        self._inflight: dict[str, list[tuple[str, SteerResult]]] = {}
        self._consumed: dict[str, set[str]] = {}
        self._dead_runs: set[str] = set()

    def steer(self, run_id: Awaitable[str], event: Event) -> SteerResult:
        loop = asyncio.get_running_loop()
        result = SteerResult(loop.create_future(), loop.create_future())
        result.published.add_done_callback(_quiet)
        result.outcome.add_done_callback(_quiet)
        task = asyncio.ensure_future(self._send(run_id, event, result))
        task.add_done_callback(_quiet)
        return result

    def _fail(self, result: SteerResult, error: AblyError) -> None:
        for future in (result.published, result.outcome):
            if not future.done():
                future.set_exception(error)

    async def _send(self, run_id_future: Awaitable[str], event: Event, result: SteerResult) -> None:
        try:
            run_id = await run_id_future
        except AblyError as exc:
            self._fail(result, exc)
            return
        if run_id in self._dead_runs:
            self._fail(result, AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to steer; run {run_id} has "
                                                                         "already ended"))
            return
        if self._is_closed():
            self._fail(result, AitError(ErrorCode.SESSION_CLOSED, 400, "unable to steer; session is closed"))
            return
        codec_message_id = new_id()
        headers = transport_headers(role="user", run_id=run_id, codec_message_id=codec_message_id,
                                    run_client_id=self._client_id(), event_id=new_id())
        self._awaiting_echo[codec_message_id] = (run_id, result)
        try:
            await self._publish(event, WriteOptions(headers, codec_message_id))
        except AblyError as exc:
            self._awaiting_echo.pop(codec_message_id, None)
            self._fail(result, AitError(ErrorCode.SESSION_SEND_FAILED, 500, f"unable to publish steer; {exc}",
                                        ably_cause(exc)))

    def observe(self, message: Message, headers: dict[str, str]) -> None:
        """Every channel message, with its transport headers."""
        codec_message_id = headers.get(h.CODEC_MESSAGE_ID)
        pending = self._awaiting_echo.pop(codec_message_id, None) if codec_message_id else None
        if pending is not None:
            steered_run, result = pending
            if not result.published.done():
                result.published.set_result(message.serial)
            self._inflight.setdefault(steered_run, []).append((codec_message_id or "", result))
        run_id = headers.get(h.RUN_ID)
        stamp = headers.get(h.STEER_CODEC_MESSAGE_IDS)
        if run_id is not None and stamp is not None:
            try:
                ids = json.loads(stamp)
            except ValueError:
                ids = None
            if isinstance(ids, list):
                self._consumed.setdefault(run_id, set()).update(i for i in ids if isinstance(i, str))
        if message.name in (h.RUN_SUSPEND, h.RUN_END) and run_id is not None:
            is_end = message.name == h.RUN_END
            self._resolve(run_id, is_end, headers.get(h.RUN_REASON, "complete") if is_end else None)

    def _resolve(self, run_id: str, is_end: bool, reason: str | None) -> None:
        consumed = self._consumed.get(run_id, set())
        remaining = []
        for steer_id, result in self._inflight.get(run_id, []):
            if steer_id in consumed or is_end:
                if not result.outcome.done():
                    result.outcome.set_result(SteerOutcome(steer_id in consumed, reason))
            else:
                remaining.append((steer_id, result))
        if remaining:
            self._inflight[run_id] = remaining
        else:
            self._inflight.pop(run_id, None)
        if is_end:
            self._dead_runs.add(run_id)
            self._consumed.pop(run_id, None)

    def drain(self, error: AblyError) -> None:
        """Fail everything pending (continuity loss or close)."""
        for entries in self._inflight.values():
            for _, result in entries:
                self._fail(result, error)
        for _, result in self._awaiting_echo.values():
            if not result.published.done():
                result.published.set_result(None)
            self._fail(result, error)
        self._inflight.clear()
        self._awaiting_echo.clear()
        self._consumed.clear()
        self._dead_runs.clear()


class RunSteerTracker:
    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._processed: set[str] = set()

    def add_pending(self, codec_message_id: str) -> None:
        self._pending.add(codec_message_id)

    def has_pending(self) -> bool:
        return bool(self._pending)

    def drain_pending(self) -> None:
        self._processed.update(self._pending)
        self._pending.clear()

    def consume_processed(self) -> list[str]:
        ids = sorted(self._processed)
        self._processed.clear()
        return ids

    def is_unresponded(self, codec_message_id: str) -> bool:
        return codec_message_id in self._pending or codec_message_id in self._processed
