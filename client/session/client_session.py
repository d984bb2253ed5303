"""ClientSession: one conversation on one channel, as a user's device sees it (JS `createClientSession`).

Every message from every participant folds into one tree; views read branches of it. `send`
publishes inputs and returns a ClientRun; the client (not the session) then POSTs
`run.to_invocation()` to the agent — see `invoke_agent`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from ..codec import headers as h
from ..codec.errors import AitError, ErrorCode, ably_cause
from ..codec.types import Codec, DecodedMessage, Event, WriteOptions
from ..errors import AblyError
from ..types import ChannelStateChange, Message
from .applier import WireApplier
from .channel import SessionChannel, SessionPresence
from .client_view import ClientView
from .emitter import Emitter
from .headers import cancel_message, new_id, run_end_error, transport_headers
from .history import PAGE_SIZE, HistoryHydrator
from .invocation import Invocation
from .participants import Participants
from .runs import BaseRun
from .steer import SteerCoordinator, SteerResult
from .tree import REORDER_WINDOW_MS, Tree
from .types import InputNode, RunInfo, RunNode, SendOptions

if TYPE_CHECKING:
    from ..realtime import Realtime

log = logging.getLogger(__name__)


def continuity_lost(change: ChannelStateChange) -> bool:
    """After the first attach: failed, suspended, detached, or re-attached without `resumed`."""
    current = str(change.current)
    return current in ("failed", "suspended", "detached") or (current == "attached" and not change.resumed)


def continuity_error(change: ChannelStateChange, verb: str) -> AitError:
    current = str(change.current)
    suffix = ", resumed: false" if current == "attached" else ""
    return AitError(ErrorCode.CHANNEL_CONTINUITY_LOST, 500,
                    f"unable to {verb}; channel continuity lost ({current}{suffix})", change.reason)


class ConnectGuard:
    """Single-flight connect; a failed attempt is retried by the next call."""

    def __init__(self) -> None:
        self._task: asyncio.Future[None] | None = None
        self.attempted = False
        self.last_error: AblyError | None = None

    async def connect(self, attempt: Callable[[], Any]) -> None:
        if self._task is None:
            self.attempted = True
            self._task = asyncio.ensure_future(attempt())
        try:
            await asyncio.shield(self._task)
            self.last_error = None
        except AblyError as exc:
            self._task = None
            self.last_error = exc
            raise

    async def require(self, method: str) -> None:
        if self._task is not None:
            try:
                await asyncio.shield(self._task)
                return
            except AblyError:
                pass
        if self.last_error is not None:
            raise AitError(self.last_error.code, self.last_error.status_code,
                           f"unable to {method}; connect() failed, call connect() again to retry; "
                           f"{self.last_error.message}", self.last_error)
        raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to {method}; connect() must be called before "
                                                        f"{method}()")


async def subscribe_and_attach(channel: SessionChannel, listener: Callable[[Message], None]) -> Callable[[], None]:
    try:
        unsubscribe = await channel.subscribe(listener)
        await channel.attach()
        return unsubscribe
    except AblyError as exc:
        raise AitError(ErrorCode.SESSION_SUBSCRIPTION_ERROR, 500,
                       f"unable to subscribe and attach channel; {exc.message}", exc) from exc


class ChannelSession:
    """What client and agent sessions share: a single-flight subscribe-then-attach."""

    channel: SessionChannel
    _closed: bool
    _guard: ConnectGuard
    _emitter: Emitter
    _unsubscribe: Callable[[], None] | None

    def _on_message(self, message: Message) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._connect()
        return self

    @property
    def presence(self) -> SessionPresence:
        return self.channel.presence

    async def _connect(self) -> None:
        if self._closed:
            raise AitError(ErrorCode.SESSION_CLOSED, 400, "unable to connect; session is closed")

        async def attempt() -> None:
            try:
                self._unsubscribe = await subscribe_and_attach(self.channel, self._on_message)
            except AitError as exc:
                self._emitter.emit("error", exc)
                raise

        await self._guard.connect(attempt)

    async def _detach(self) -> None:
        """On close: leave the channel if connect() ever tried to attach it."""
        if self._guard.attempted:
            try:
                await self.channel.detach()
            except AblyError:
                log.debug("detach failed", exc_info=True)


def _wire_only(item: Event) -> bool:
    kind = item.get("kind")
    return kind != "user-message" and (kind == "regenerate" or item.get("codecMessageId") is not None)


class ClientRun(BaseRun):
    """The handle `send`/`regenerate`/`edit` return (JS `ClientRun`; "ActiveRun" in the product brief)."""

    def __init__(self, session: ClientSession, input_codec_message_id: str, input_event_id: str,
                 started: asyncio.Future[str], continuation_run_id: str | None) -> None:
        self._run_id = ""
        super().__init__(lambda: self._run_id, lambda: input_codec_message_id, lambda: session.tree,
                         session.codec)
        self._session = session
        self.input_codec_message_id = input_codec_message_id
        self.input_event_id = input_event_id
        self._continuation = continuation_run_id
        self.started: asyncio.Future[str] = started  # resolves with the run-id on ai-run-start/resume
        started.add_done_callback(self._learn_run_id)

    def _learn_run_id(self, future: asyncio.Future[str]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._run_id = future.result()

    async def wait_started(self, timeout: float | None = None) -> str:
        """The run-id, once the agent announces the run (no deadline unless `timeout` is given)."""
        return await asyncio.wait_for(asyncio.shield(self.started), timeout)

    async def cancel(self) -> None:
        """Publish `ai-cancel` for this send (works before the run-id is known)."""
        await self._session._publish_cancel(input_codec_message_id=self.input_codec_message_id,
                                            run_id=self._continuation)

    def steer(self, event: Event) -> SteerResult:
        """Publish `event` into this run once it has started (JS `steer`)."""
        return self._session._steer.steer(asyncio.shield(self.started), event)

    def to_invocation(self) -> Invocation:
        return Invocation(self.input_event_id, self._session.channel.name)


class ClientSession(ChannelSession):
    """JS `ClientSession`. `async with ClientSession(...)` connects on entry and closes on exit."""

    def __init__(self, channel: SessionChannel, codec: Codec[Any, Any], *, history_page_size: int = PAGE_SIZE,
                 reorder_window_ms: int = REORDER_WINDOW_MS) -> None:
        self.channel = channel
        self.codec = codec
        self.tree = Tree(codec, reorder_window_ms)
        self._applier = WireApplier(self.tree, codec.create_decoder())
        self._hydrator = HistoryHydrator(channel, self._applier, history_page_size)
        self._encoder = codec.create_encoder(channel)
        self._emitter = Emitter()
        self._views: set[ClientView] = set()
        self._pending_starts: dict[str, asyncio.Future[str]] = {}
        self._guard = ConnectGuard()
        self._closed = False
        self._attached_once = channel.state == "attached"
        self._unsubscribe: Callable[[], None] | None = None
        self._off_state = channel.on_state_change(self._on_state_change)
        self._steer = SteerCoordinator(self._encoder.publish_input, self._client_id, lambda: self._closed)
        self.view = self.create_view()
        self.participants = Participants(channel.presence)  # presence in session terms

    @classmethod
    def for_realtime(cls, client: Realtime, channel_name: str, codec: Codec[Any, Any],
                     **options: Any) -> ClientSession:
        """A session on Tether's realtime client."""
        from .adapter import RealtimeSessionChannel
        return cls(RealtimeSessionChannel(client, channel_name, codec.adapter_tag), codec, **options)

    async def __aexit__(self, *exc: object) -> None:
        await self.close()



    @property
    def client_id(self) -> str | None:
        return self._client_id()

    def _client_id(self) -> str | None:
        client_id = self.channel.client_id
        return client_id if client_id and client_id != "*" else None

    async def connect(self) -> None:
        """Subscribe (unfiltered) then attach; idempotent. Loads no history: call `view.load_older(n)`."""
        await self._connect()

    def create_view(self) -> ClientView:
        """Another view over the same tree, with its own selections and paging window."""
        if self._closed:
            raise AitError(ErrorCode.SESSION_CLOSED, 400, "unable to create view; session is closed")
        view: ClientView = ClientView(self.tree, self.codec, self._hydrator, self._send,
                                      on_close=lambda: self._views.discard(view))
        self._views.add(view)
        return view

    def on(self, event: str, handler: Callable[[Any], None]) -> Callable[[], None]:
        """`error`: agent run errors, continuity loss, subscription errors."""
        if self._closed:
            return lambda: None
        return self._emitter.on(event, handler)

    def runs(self) -> list[RunInfo]:
        """Every run in the tree (all branches), in order."""
        return [n.info() for n in self.tree.nodes() if isinstance(n, RunNode)]

    def own_active_runs(self) -> list[RunInfo]:
        """Active runs owned by this client's clientId. Devices sharing a clientId are one owner to the
        transport: this includes the other devices' runs too (use a clientId per device to tell them apart)."""
        mine = self._client_id()
        return [r for r in self.runs() if r.status == "active" and mine is not None and r.client_id == mine]

    async def cancel(self, run_id: str) -> None:
        """Publish `ai-cancel {run-id}` (any participant may; the agent decides)."""
        await self._publish_cancel(run_id=run_id)

    async def close(self) -> None:
        """Unsubscribe, close views, fail pending futures, detach. Runs are not cancelled."""
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._off_state()
        self._emitter.clear()
        for view in list(self._views):
            view.close()
        closed = AitError(ErrorCode.SESSION_CLOSED, 400, "unable to await run-start; session closed")
        for future in self._pending_starts.values():
            if not future.done():
                future.set_exception(closed)
        self._pending_starts.clear()
        self._steer.drain(AitError(ErrorCode.SESSION_CLOSED, 400, "unable to await steer; session closed"))
        try:
            await self._encoder.close()
        except AblyError:
            log.debug("encoder close failed", exc_info=True)
        await self._detach()

    # --- inbound -------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        if self._closed:
            return
        try:
            headers = h.transport_headers(message)  # parsed once for every consumer below
            if message.name == h.RUN_END and headers.get(h.RUN_REASON) == "error":
                self._emitter.emit("error", run_end_error(headers))
            event = self._applier.apply(message, headers)
            if event is not None and event.type in ("start", "resume"):
                key = headers.get(h.INPUT_CODEC_MESSAGE_ID)
                future = self._pending_starts.pop(key, None) if key is not None else None
                if future is not None and not future.done():
                    future.set_result(event.run_id)
            self._steer.observe(message, headers)
            self.tree.emit_ably_message(message, headers)
        except Exception as exc:  # a bad message must not stop the subscription
            log.exception("processing %s failed", message.name)
            self._emitter.emit("error", AitError(ErrorCode.SESSION_SUBSCRIPTION_ERROR, 500,
                                                 f"unable to process channel message; {exc}", exc))

    def _on_state_change(self, change: ChannelStateChange) -> None:
        if self._closed:
            return
        if not self._attached_once:
            self._attached_once = str(change.current) == "attached"
            return
        if continuity_lost(change):
            error = continuity_error(change, "deliver events")
            self._steer.drain(error)
            self._emitter.emit("error", error)

    # --- writes --------------------------------------------------------------------------

    async def _send(self, inputs: list[Event], options: SendOptions | None, auto_parent: str | None) -> ClientRun:
        if self._closed:
            raise AitError(ErrorCode.SESSION_CLOSED, 400, "unable to send; session is closed")
        await self._guard.require("send")
        if self._closed:
            raise AitError(ErrorCode.SESSION_CLOSED, 400, "unable to send; session is closed")
        state = self.channel.state
        if state not in ("attached", "attaching"):
            raise AitError(ErrorCode.CHANNEL_NOT_READY, 400, f"unable to send; channel is {state}")
        if not inputs:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                           "unable to send; inputs array is empty (include at least one input)")
        if sum(1 for i in inputs if not _wire_only(i)) > 1:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, "unable to send; a send may introduce at most one new "
                                                            "message")
        opts = options or SendOptions()
        role = opts.role or "user"
        default_parent = auto_parent if opts.parent is None and not opts.fork_of else opts.parent
        items: list[tuple[Event, str, str, dict[str, str]]] = []
        optimistic: str | None = None
        for item in inputs:
            event_id = new_id()
            codec_message_id = item.get("codecMessageId") or new_id()
            parent = item.get("parent") or default_parent
            headers = transport_headers(
                role=role, run_id=opts.run_id, codec_message_id=codec_message_id, run_client_id=self._client_id(),
                parent=parent, fork_of=opts.fork_of,
                regenerates=item.get("target") if item.get("kind") == "regenerate" else None,
                supersedes=opts.supersedes, event_id=event_id)
            if not _wire_only(item):
                self.tree.apply_message(DecodedMessage(inputs=[item]), headers)
                optimistic = codec_message_id
            items.append((item, codec_message_id, event_id, headers))
        trigger = items[-1]
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        started.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending_starts[trigger[1]] = started
        try:
            for item, codec_message_id, _, headers in items:
                await self._encoder.publish_input(item, WriteOptions(headers, codec_message_id))
        except AblyError as exc:
            self._pending_starts.pop(trigger[1], None)
            if optimistic is not None:
                node = self.tree.get_node_by_codec_message_id(optimistic)
                if isinstance(node, InputNode) and node.serial is None:
                    self.tree.delete(node.codec_message_id)
            permission = exc.status_code in (401, 403)
            raise AitError(ErrorCode.INSUFFICIENT_CAPABILITY if permission else ErrorCode.SESSION_SEND_FAILED,
                           401 if permission else 500,
                           "unable to publish events; missing publish capability on the channel" if permission
                           else f"unable to publish events; {exc.message}", ably_cause(exc)) from exc
        return ClientRun(self, trigger[1], trigger[2], started, opts.run_id)

    async def _publish_cancel(self, *, run_id: str | None = None, input_codec_message_id: str | None = None) -> None:
        if self._closed:
            return
        await self._guard.require("cancel")
        await self.channel.publish(cancel_message(run_id=run_id, input_codec_message_id=input_codec_message_id))
