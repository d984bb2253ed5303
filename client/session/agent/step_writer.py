"""Steps and output for one agent run: `pipe()` (an implicit step), `create_step()` (explicit ones).

Each pipe/send is one assistant message (one codec-message-id) published through a fresh encoder
whose default headers carry the run's identity; `step-start-serial` and steer stamps are added to
every outgoing message once known.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field

from ...codec import headers as h
from ...codec.errors import AitError, ErrorCode, ably_cause
from ...codec.types import Codec, Encoder, EncoderOptions, Event
from ...types import Message
from ..channel import SessionChannel
from ..headers import new_id, transport_headers
from ..signals import AbortSignal
from ..tree import Tree
from ..types import RunEndReason, StepEndReason, StepLifecycleEvent, StreamResult
from .hooks import RunHooks
from .pipe import pipe_stream
from .run_manager import RunManager

log = logging.getLogger(__name__)


def step_reason_for(reason: RunEndReason) -> StepEndReason:
    return "cancelled" if reason == "cancelled" else "failed" if reason == "error" else "complete"


@dataclass(slots=True)
class Anchors:
    """What the run learned from its trigger, stamped on every output."""

    parent: str | None = None
    fork_of: str | None = None
    regenerates: str | None = None
    input_client_id: str | None = None
    input_codec_message_id: str | None = None


@dataclass(slots=True)
class _Attempt:
    step_id: str
    step_client_id: str
    start_serial: str | None = None
    steer_ids: list[str] = field(default_factory=list)


class RunStep:
    """An explicit step (JS `RunStep`): `start()`, then `pipe()`/`send()`, then `end()`."""

    def __init__(self, writer: StepWriter, attempt: _Attempt) -> None:
        self._writer = writer
        self._attempt = attempt
        self._state = "initialized"
        self._errored = False
        self._cancelled = False

    @property
    def step_id(self) -> str:
        return self._attempt.step_id

    @property
    def abort_signal(self) -> AbortSignal:
        return self._writer.signal

    async def start(self) -> None:
        if self._state != "initialized":
            return
        if self._writer.active is not None or self._writer.opening:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, "unable to start step; another step is already active "
                                                            "on this run")
        self._writer.opening = True
        try:
            self._writer.assert_publishable("step")
            self._attempt.start_serial = await self._writer.open_step(self._attempt)
            self._state = "active"
            self._writer.active = self._settle
        finally:
            self._writer.opening = False

    async def pipe(self, source: AsyncIterable[Event]) -> StreamResult:
        self._require_active("pipe")
        result = await self._writer.do_pipe(source, self._attempt)
        self._errored |= result.reason == "error"
        self._cancelled |= result.reason == "cancelled"
        return result

    async def send(self, output: Event) -> None:
        """One discrete output as its own assistant message."""
        self._require_active("send")
        try:
            await self._writer.do_send(output, self._attempt)
        except Exception:
            self._errored = True
            raise

    async def end(self, reason: StepEndReason | None = None) -> None:
        cancelled = self._cancelled or self._writer.signal.aborted
        await self._settle(reason or ("cancelled" if cancelled else "failed" if self._errored else "complete"))

    def _require_active(self, verb: str) -> None:
        if self._state != "active":
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to {verb} step; the step is not active — call "
                                                            f"start() first and do not {verb} after end()")

    async def _settle(self, reason: StepEndReason) -> None:
        if self._state == "settled":
            return
        self._state = "settled"
        if self._writer.active == self._settle:
            self._writer.active = None
        await self._writer.close_step(self._attempt, reason)


class StepWriter:
    def __init__(self, *, get_run_id: Callable[[], str], invocation_id: str, codec: Codec[object, object],
                 channel: SessionChannel, runs: RunManager, get_tree: Callable[[], Tree], hooks: RunHooks,
                 signal: AbortSignal, anchors: Anchors, assert_publishable: Callable[[str], None],
                 mark_output: Callable[[], None], consume_steers: Callable[[], list[str]]) -> None:
        self._get_run_id = get_run_id
        self._invocation_id = invocation_id
        self._codec = codec
        self._channel = channel
        self._runs = runs
        self._get_tree = get_tree
        self._hooks = hooks
        self.signal = signal
        self._anchors = anchors
        self.assert_publishable = assert_publishable
        self._mark_output = mark_output
        self._consume_steers = consume_steers
        self._index = 0
        self._last_step: tuple[str, StepEndReason] | None = None
        self._last_step_client: str | None = None
        self.active: Callable[[StepEndReason], Awaitable[None]] | None = None
        self.opening = False

    def _mint(self) -> str:
        step_id = f"{self._invocation_id}-step-{self._index}"
        self._index += 1
        return step_id

    def _step_client(self, explicit: str | None = None) -> str:
        """Sticky: explicit, else the previous step's, else the channel's latest, else the trigger's publisher."""
        resolved = explicit or self._last_step_client or self._from_channel() or self._anchors.input_client_id or ""
        self._last_step_client = resolved
        return resolved

    def _from_channel(self) -> str | None:
        node = self._get_tree().get_run_node(self._get_run_id())
        for info in reversed(node.steps if node is not None else ()):
            if info.step_client_id:
                return info.step_client_id
        return None

    def _scopes(self, attempt: _Attempt) -> dict[str, str | None]:
        return {"invocation_id": self._invocation_id, "run_client_id": self._runs.owner(self._get_run_id()),
                "invocation_client_id": self._anchors.input_client_id, "step_client_id": attempt.step_client_id}

    async def open_step(self, attempt: _Attempt) -> str | None:
        run_id = self._get_run_id()
        scopes = self._scopes(attempt)
        serial = await self._runs.start_step(run_id, attempt.step_id, **scopes)  # type: ignore[arg-type]
        self._get_tree().apply_step_lifecycle(StepLifecycleEvent(
            "step-start", run_id, attempt.step_id, self._invocation_id, scopes["run_client_id"] or "",
            scopes["invocation_client_id"] or "", attempt.step_client_id, serial))
        return serial

    async def close_step(self, attempt: _Attempt, reason: StepEndReason) -> None:
        run_id = self._get_run_id()
        self._last_step = (attempt.step_id, reason)
        if attempt.start_serial is None:
            log.warning("no step-start serial for step %s; skipping step-end", attempt.step_id)
            return
        scopes = self._scopes(attempt)
        await self._runs.end_step(run_id, attempt.step_id, attempt.start_serial, reason,
                                  **scopes)  # type: ignore[arg-type]
        self._get_tree().apply_step_lifecycle(StepLifecycleEvent(
            "step-end", run_id, attempt.step_id, self._invocation_id, scopes["run_client_id"] or "",
            scopes["invocation_client_id"] or "", attempt.step_client_id, None, attempt.start_serial, reason))

    def _encoder(self, attempt: _Attempt) -> Encoder:
        run_id = self._get_run_id()
        a = self._anchors
        codec_message_id = new_id()
        defaults = transport_headers(role="assistant", run_id=run_id, codec_message_id=codec_message_id,
                                     run_client_id=self._runs.owner(run_id), parent=a.parent, fork_of=a.fork_of,
                                     invocation_id=self._invocation_id, input_client_id=a.input_client_id,
                                     input_codec_message_id=a.input_codec_message_id, regenerates=a.regenerates,
                                     step_id=attempt.step_id, step_client_id=attempt.step_client_id)
        user_hook = self._hooks.on_ably_message

        def stamp(message: Message) -> None:
            transport = message.extras["ai"]["transport"]  # type: ignore[index]
            if attempt.start_serial is not None:
                transport[h.STEP_START_SERIAL] = attempt.start_serial
            if attempt.steer_ids:
                transport[h.STEER_CODEC_MESSAGE_IDS] = json.dumps(attempt.steer_ids, separators=(",", ":"))
            if user_hook is not None:
                user_hook(message)

        return self._codec.create_encoder(self._channel, EncoderOptions(defaults, stamp, codec_message_id))

    async def do_pipe(self, source: AsyncIterable[Event], attempt: _Attempt,
                      before_first: Callable[[], Awaitable[None]] | None = None) -> StreamResult:
        self.assert_publishable("pipe")
        self._mark_output()
        attempt.steer_ids = self._consume_steers()
        result = await pipe_stream(source, self._encoder(attempt), self.signal, self._hooks.on_cancelled,
                                   before_first)
        if result.error is not None and self._hooks.on_error is not None:
            self._hooks.on_error(AitError(ErrorCode.STREAM_ERROR, 500, f"unable to pipe response for run "
                                          f"{self._get_run_id()}; {result.error}", ably_cause(result.error)))
        return result

    async def do_send(self, output: Event, attempt: _Attempt) -> None:
        self.assert_publishable("send")
        self._mark_output()
        attempt.steer_ids = self._consume_steers()
        encoder = self._encoder(attempt)
        try:
            await encoder.publish_output(output)
        finally:
            await encoder.close()

    async def pipe(self, source: AsyncIterable[Event]) -> StreamResult:
        """Publish `source` as one assistant message inside an implicit step opened at its first output."""
        if self.active is not None or self.opening:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, "unable to pipe; a step is already active on this run "
                                                            "(end it first)")
        self.opening = True
        try:
            attempt = _Attempt(self._mint(), self._step_client())
            opened = False
            settled = False

            async def settle(reason: StepEndReason) -> None:
                nonlocal settled
                if settled:
                    return
                settled = True
                if self.active == settle:
                    self.active = None
                await self.close_step(attempt, reason)

            async def open_first() -> None:
                nonlocal opened
                opened = True
                self.active = settle
                attempt.start_serial = await self.open_step(attempt)

            result = await self.do_pipe(source, attempt, open_first)
            if opened:
                try:
                    await settle(step_reason_for(result.reason))
                except Exception:
                    log.exception("closing the implicit step failed")
            return result
        finally:
            self.opening = False

    def create_step(self, step_id: str | None = None, step_client_id: str | None = None) -> RunStep:
        """An explicit step; a new attempt under an existing `step_id` supersedes the previous one."""
        if step_id is None:
            step_id = self._last_step[0] if self._last_step is not None and self._last_step[1] == "failed" \
                else self._mint()
        return RunStep(self, _Attempt(step_id, self._step_client(step_client_id)))

    def has_active_step(self) -> bool:
        return self.active is not None or self.opening

    async def close_active_step(self, reason: StepEndReason) -> None:
        if self.active is not None:
            await self.active(reason)
