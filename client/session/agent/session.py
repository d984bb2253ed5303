"""AgentSession: the agent side of a conversation (JS `createAgentSession`).

An invocation (the HTTP body a client POSTs) names its trigger's `event-id`; `create_run` returns
an AgentRun that locates the trigger on the channel, publishes `ai-run-start` (or `ai-run-resume`
for a continuation), streams output through the codec, and ends with a reason. `ai-cancel`
messages are routed to the run they name, through the run's `on_cancel` hook.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterable, Callable
from typing import TYPE_CHECKING, Any

from ...codec import headers as h
from ...codec.errors import AitError, ErrorCode, ably_cause
from ...codec.types import Codec, Event
from ...errors import AblyError
from ...types import ChannelStateChange, Message
from ..applier import WireApplier
from ..branches import LeafBranchSource
from ..channel import SessionChannel
from ..client_session import (
    ChannelSession,
    ConnectGuard,
    continuity_error,
    continuity_lost,
)
from ..emitter import Emitter
from ..headers import new_id
from ..history import PAGE_SIZE, HistoryHydrator
from ..invocation import Invocation
from ..participants import Participants
from ..runs import BaseRun
from ..signals import AbortController, AbortSignal
from ..steer import RunSteerTracker
from ..tree import REORDER_WINDOW_MS, Tree
from ..types import (
    TERMINAL,
    CancelRequest,
    OutputEvent,
    RunEndReason,
    RunLifecycleEvent,
    StreamResult,
)
from ..view import View
from .hooks import RunHooks
from .locator import locate_input_event, page_until_located
from .run_manager import RunManager
from .step_writer import Anchors, RunStep, StepWriter, step_reason_for

if TYPE_CHECKING:
    from ...realtime import Realtime

log = logging.getLogger(__name__)

DEFERRED_CANCEL_LIMIT = 200


class AgentRun(BaseRun):
    """One run as the agent drives it (JS `OpenableRun`): `start()`, `pipe()`…, then `end()`."""

    def __init__(self, session: AgentSession, invocation: Invocation, run_id: str, invocation_id: str,
                 hooks: RunHooks) -> None:
        self._id = run_id
        super().__init__(lambda: self._id, lambda: self._anchors.parent, lambda: session.tree, session.codec)
        self._session = session
        self.invocation = invocation
        self.invocation_id = invocation_id
        self.hooks = hooks
        self._controller = AbortController()
        self.abort_signal: AbortSignal = AbortSignal.any_of(self._controller.signal, hooks.signal) \
            if hooks.signal is not None else self._controller.signal
        self._anchors = Anchors()
        self._owner: str | None = None
        self._run_parent: str | None = None
        self._continuation = False
        self._open = False
        self._opening = False
        self._ended = False
        self._produced = False
        self._steers = RunSteerTracker()
        self._steers_seeded = False
        self._early_folded: dict[str, set[str]] = {}
        self._early_responded: dict[str, set[str]] = {}
        self._leaf = LeafBranchSource(lambda: session.tree, session.codec)
        self.view = View(session.tree, session.codec, session._hydrator, self._leaf,
                         defer_steer=lambda _run, cmid: self._steers.is_unresponded(cmid))
        self._leaf.set_notify(lambda: self.view.recompute())
        self._off_output = session.tree.on("output", self._on_output)
        self._writer = StepWriter(
            get_run_id=lambda: self._id, invocation_id=invocation_id, codec=session.codec, channel=session.channel,
            runs=session._runs, get_tree=lambda: session.tree, hooks=hooks, signal=self.abort_signal,
            anchors=self._anchors, assert_publishable=self._assert_publishable, mark_output=self._mark_output,
            consume_steers=self._steers.consume_processed)
        loop = asyncio.get_running_loop()
        self.located: asyncio.Future[None] = loop.create_future()
        self.located.add_done_callback(lambda f: f.cancelled() or f.exception())
        if invocation.input_event_id:
            trigger = locate_input_event(session.tree, invocation.input_event_id, self.abort_signal)
            trigger.add_done_callback(self._on_located)
        else:
            self.located.set_result(None)

    # --- trigger -------------------------------------------------------------------------

    def _on_located(self, trigger: asyncio.Future[Message]) -> None:
        if self.located.done():
            return
        if trigger.cancelled() or trigger.exception() is not None:
            error = trigger.exception() if not trigger.cancelled() else None
            self.located.set_exception(error or AitError(ErrorCode.OPERATION_CANCELLED, 400, "lookup cancelled"))
            return
        message = trigger.result()
        headers = h.transport_headers(message)
        a = self._anchors
        a.input_client_id = message.client_id
        self._owner = headers.get(h.RUN_CLIENT_ID)
        trigger_parent = headers.get(h.PARENT)
        a.fork_of = headers.get(h.FORK_OF)
        a.regenerates = headers.get(h.MSG_REGENERATE)
        a.input_codec_message_id = headers.get(h.CODEC_MESSAGE_ID)
        wire_run_id = headers.get(h.RUN_ID)
        self._continuation = wire_run_id is not None
        if wire_run_id is not None and wire_run_id != self._id:
            self._session._rekey(self, wire_run_id)
            self._id = wire_run_id
        node = self._session.tree.get_node_by_codec_message_id(a.input_codec_message_id) \
            if a.input_codec_message_id is not None else None
        a.parent = trigger_parent if node is None else a.input_codec_message_id
        self._run_parent = trigger_parent if node is not None and node.kind == "run" else a.parent
        self._leaf.set_pin(a.parent, self._id, a.regenerates)
        if a.input_codec_message_id is not None:
            self._session._run_by_input[a.input_codec_message_id] = self._id
        self.located.set_result(None)

    async def page_until_located(self, *, max_pages: int = 20, page_size: int = 100,
                                 trigger_wait: float = 5.0) -> None:
        """Walk history back until the trigger is found (JS `pageUntilLocated`)."""
        await page_until_located(self, input_event_id=self.invocation.input_event_id, max_pages=max_pages,
                                 page_size=page_size, trigger_wait=trigger_wait)

    # --- steering ------------------------------------------------------------------------

    def _on_output(self, event: OutputEvent) -> None:
        if event.run_id is None:
            return
        if not self._steers_seeded:
            if event.steer_codec_message_ids:
                self._early_responded.setdefault(event.run_id, set()).update(event.steer_codec_message_ids)
            if event.inputs and event.codec_message_id is not None:
                self._early_folded.setdefault(event.run_id, set()).add(event.codec_message_id)
            return
        if event.run_id != self._id or not event.inputs or event.codec_message_id is None:
            return
        self._steers.add_pending(event.codec_message_id)
        self._notify_steer()

    def _seed_steers(self) -> None:
        if self._steers_seeded:
            return
        self._steers_seeded = True
        responded = self._early_responded.get(self._id, set())
        seeded = False
        for cmid in self._early_folded.get(self._id, set()):
            if cmid != self._anchors.input_codec_message_id and cmid not in responded:
                self._steers.add_pending(cmid)
                seeded = True
        self._early_folded.clear()
        self._early_responded.clear()
        if seeded:
            self._notify_steer()

    def _notify_steer(self) -> None:
        if self.hooks.on_steer is None:
            return
        try:
            self.hooks.on_steer()
        except Exception as exc:  # noqa: BLE001 - a hook's failure is reported, not raised into the fold
            self._session._report(self, AitError(ErrorCode.CANCEL_LISTENER_ERROR, 500,
                                                 f"unable to notify steer for run {self._id}; on_steer raised: {exc}"))

    def has_input(self) -> bool:
        """Loop driver: True before the first output, then again when steering arrived (drains it)."""
        if self.abort_signal.aborted:
            return False
        had = self._steers.has_pending()
        if had:
            self._steers.drain_pending()
        return True if not self._produced else had

    # --- opening -------------------------------------------------------------------------

    async def start(self) -> None:
        """Wait for the trigger, honour a cancel that came first, then publish ai-run-start/resume."""
        await self._session._guard.require("start")
        if self.abort_signal.aborted:
            raise AitError(ErrorCode.OPERATION_CANCELLED, 400, f"unable to start run; run {self._id} was cancelled "
                                                               "before start()")
        if self._opening:
            return
        self._opening = True
        try:
            await self.located
        except AblyError:
            self._deregister()
            raise
        a = self._anchors
        if a.input_codec_message_id is not None:
            await self._session._pull_deferred_cancel(self, a.input_codec_message_id)
        try:
            await self._session._runs.start(
                self._id, self._owner, continuation=self._continuation, parent=self._run_parent, fork_of=a.fork_of,
                regenerates=a.regenerates, invocation_id=self.invocation_id, input_client_id=a.input_client_id,
                input_codec_message_id=a.input_codec_message_id)
        except AblyError as exc:
            raise AitError(ErrorCode.RUN_LIFECYCLE_ERROR, 500, f"unable to publish run-start for run {self._id}; "
                                                               f"{exc.message}", exc) from exc
        self._open = True
        if not self._continuation:
            self._session.tree.apply_run_lifecycle(RunLifecycleEvent(
                "start", self._id, self._owner or "", self.invocation_id, None, parent=self._run_parent,
                fork_of=a.fork_of, regenerates=a.regenerates, input_codec_message_id=a.input_codec_message_id))
        self._seed_steers()

    # --- output --------------------------------------------------------------------------

    def _mark_output(self) -> None:
        self._produced = True

    def _assert_publishable(self, verb: str) -> None:
        if not self._open:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to {verb}; start() must be called first "
                                                            f"(run {self._id})")
        if verb == "step" and self._ended:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to run step; run {self._id} has already ended")
        if self.status in TERMINAL:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to {verb}; run {self._id} is already "
                                                            f"{self.status} (read-only)")

    async def pipe(self, source: AsyncIterable[Event]) -> StreamResult:
        """Publish a model stream as one assistant message; returns how it ended (never raises for it)."""
        await self._session._guard.require("pipe")
        return await self._writer.pipe(source)

    def create_step(self, step_id: str | None = None, step_client_id: str | None = None) -> RunStep:
        return self._writer.create_step(step_id, step_client_id)

    # --- closing -------------------------------------------------------------------------

    async def suspend(self) -> None:
        """`ai-run-suspend`: paused awaiting participant input (e.g. a client tool result)."""
        if not self._open:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, "unable to suspend run; start() must be called first")
        if self._ended:
            return
        if self._writer.has_active_step():
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to suspend run; end the active step before "
                                                            f"suspending (run {self._id})")
        self._ended = True
        try:
            if self.status not in TERMINAL:
                a = self._anchors
                await self._session._runs.suspend(self._id, self.invocation_id, a.input_client_id,
                                                  a.input_codec_message_id)
        finally:
            self._deregister()

    async def end(self, reason: RunEndReason = "complete", error: AblyError | None = None) -> None:
        """`ai-run-end` with `reason` (and `error-code`/`error-message` for an error); closes an open step."""
        if not self._open:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, "unable to end run; start() must be called first")
        if self._ended:
            return
        self._ended = True
        if self.status in TERMINAL:
            self._deregister()
            return
        try:
            await self._writer.close_active_step(step_reason_for(reason))
        except AblyError:
            log.exception("auto-closing the active step failed")
        a = self._anchors
        try:
            await self._session._runs.end(self._id, reason, self.invocation_id, a.input_client_id,
                                          a.input_codec_message_id, error)
        except AblyError as exc:
            raise AitError(ErrorCode.RUN_LIFECYCLE_ERROR, 500, f"unable to publish run-end for run {self._id}; "
                                                               f"{exc.message}", exc) from exc
        finally:
            self._deregister()

    async def _end_cancelled(self) -> None:
        if self._open and not self._ended:
            await self.end("cancelled")

    def _abort(self, reason: BaseException | None = None) -> None:
        self._controller.abort(reason)

    def _deregister(self) -> None:
        self._session._deregister(self)
        self._off_output()
        self.view.close()

    @property
    def owner(self) -> str | None:
        """The run owner's clientId (`run-client-id` of the trigger), once located."""
        return self._owner


class AgentSession(ChannelSession):
    """JS `AgentSession`. `async with AgentSession(...)` connects, and detaches on exit."""

    def __init__(self, channel: SessionChannel, codec: Codec[Any, Any], *, history_page_size: int = PAGE_SIZE,
                 reorder_window_ms: int = REORDER_WINDOW_MS) -> None:
        self.channel = channel
        self.codec = codec
        self._page_size = history_page_size
        self._window = reorder_window_ms
        self._runs = RunManager(channel)
        self._emitter = Emitter()
        self._registered: dict[str, AgentRun] = {}
        self._run_by_input: dict[str, str] = {}
        self._deferred: OrderedDict[str, Message] = OrderedDict()
        self._guard = ConnectGuard()
        self._closed = False
        self._attached_once = channel.state == "attached"
        self._unsubscribe: Callable[[], None] | None = None
        self._off_state = channel.on_state_change(self._on_state_change)
        self._cancel_tasks: set[asyncio.Future[None]] = set()
        self.participants = Participants(channel.presence)  # presence in session terms
        self._materialise()

    @classmethod
    def for_realtime(cls, client: Realtime, channel_name: str, codec: Codec[Any, Any], **options: Any) -> AgentSession:
        from ..adapter import RealtimeSessionChannel
        return cls(RealtimeSessionChannel(client, channel_name, codec.adapter_tag), codec, **options)

    def _materialise(self) -> None:
        self.tree = Tree(self.codec, self._window)
        self._applier = WireApplier(self.tree, self.codec.create_decoder())
        self._hydrator = HistoryHydrator(self.channel, self._applier, self._page_size)

    async def __aexit__(self, *exc: object) -> None:
        await self.detach()



    async def connect(self) -> None:
        """Subscribe (unfiltered: every message folds, cancels get routed) and attach."""
        await self._connect()

    def on(self, event: str, handler: Callable[[Any], None]) -> Callable[[], None]:
        if self._closed:
            return lambda: None
        return self._emitter.on(event, handler)

    def create_run(self, invocation: Invocation, *, run_id: str | None = None, invocation_id: str | None = None,
                   hooks: RunHooks | None = None) -> AgentRun:
        """A run for this invocation; registered for cancel routing at once (JS `createRun`)."""
        if run_id == "" or invocation_id == "":
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, "unable to create run; ids must not be empty (omit them "
                                                            "to have them generated)")
        run = AgentRun(self, invocation, run_id or new_id(), invocation_id or new_id(), hooks or RunHooks())
        self._registered[run.run_id] = run
        return run

    async def end(self) -> None:
        """End every open run as cancelled, then detach (the normal teardown for a non-durable agent)."""
        if self._closed:
            return
        for run in list(self._registered.values()):
            try:
                await run._end_cancelled()
            except AblyError as exc:
                self._emitter.emit("error", AitError(ErrorCode.RUN_LIFECYCLE_ERROR, 500,
                                                     f"unable to end run {run.run_id} on session end; {exc}", exc))
            run._abort()
        await self.detach()

    async def detach(self) -> None:
        """Abort every run and detach; publishes nothing."""
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._off_state()
        closed = AitError(ErrorCode.SESSION_CLOSED, 400, "unable to locate input event; session closed")
        for run in list(self._registered.values()):
            if not run.located.done():
                run.located.set_exception(closed)
            run._abort()
        self._registered.clear()
        self._run_by_input.clear()
        self._deferred.clear()
        self._emitter.clear()
        self._runs.close()
        for task in list(self._cancel_tasks):
            task.cancel()
        await self._detach()

    # --- inbound -------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        if self._closed:
            return
        try:
            self._applier.fold_and_emit(message)
        except Exception as exc:  # a bad message must not stop the subscription
            log.exception("processing %s failed", message.name)
            self._emitter.emit("error", AitError(ErrorCode.SESSION_SUBSCRIPTION_ERROR, 500,
                                                 f"unable to process channel message; {exc}", exc))
            return
        if message.name == h.CANCEL:
            task = asyncio.ensure_future(self._route_cancel(message))
            self._cancel_tasks.add(task)
            task.add_done_callback(self._cancel_tasks.discard)

    def _on_state_change(self, change: ChannelStateChange) -> None:
        if self._closed:
            return
        if not self._attached_once:
            self._attached_once = str(change.current) == "attached"
            return
        if not continuity_lost(change):
            return
        error = continuity_error(change, "continue")
        for run in list(self._registered.values()):
            run._abort(error)
        self._materialise()
        self._emitter.emit("error", error)

    # --- cancel routing ------------------------------------------------------------------

    async def _route_cancel(self, message: Message) -> None:
        headers = h.transport_headers(message)
        run_id = headers.get(h.RUN_ID)
        input_id = headers.get(h.INPUT_CODEC_MESSAGE_ID)
        if not run_id and not input_id:
            log.warning("ai-cancel without run-id or input-codec-message-id (serial %s)", message.serial)
            return
        resolved = run_id or (self._run_by_input.get(input_id) if input_id else None)
        run = self._registered.get(resolved) if resolved else None
        if run is None:
            if input_id is not None:
                self._deferred.pop(input_id, None)
                if len(self._deferred) >= DEFERRED_CANCEL_LIMIT:
                    self._deferred.popitem(last=False)
                self._deferred[input_id] = message
            return
        await self._cancel(run, message)

    async def _pull_deferred_cancel(self, run: AgentRun, input_id: str) -> None:
        message = self._deferred.pop(input_id, None)
        if message is not None:
            await self._cancel(run, message)

    async def _cancel(self, run: AgentRun, message: Message) -> None:
        try:
            if run.hooks.on_cancel is not None and not await run.hooks.on_cancel(CancelRequest(message, run.run_id)):
                log.debug("cancel for run %s refused by on_cancel", run.run_id)
                return
            run._abort()
        except Exception as exc:  # noqa: BLE001 - the hook's failure is reported, and the cancel not applied
            self._report(run, AitError(ErrorCode.CANCEL_LISTENER_ERROR, 500, f"unable to process cancel for run "
                                       f"{run.run_id}; on_cancel raised: {exc}", ably_cause(exc)))

    def _report(self, run: AgentRun, error: AblyError) -> None:
        if run.hooks.on_error is not None:
            run.hooks.on_error(error)
        else:
            self._emitter.emit("error", error)

    # --- registry ------------------------------------------------------------------------

    def _rekey(self, run: AgentRun, run_id: str) -> None:
        self._registered.pop(run.run_id, None)
        self._registered[run_id] = run

    def _deregister(self, run: AgentRun) -> None:
        self._registered.pop(run.run_id, None)
        input_id = run._anchors.input_codec_message_id
        if input_id is not None:
            self._run_by_input.pop(input_id, None)
            self._deferred.pop(input_id, None)
