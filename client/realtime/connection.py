"""The connection state machine: connect, stay alive, reconnect with backoff, resume, re-authenticate.

One supervisor task owns the lifecycle. Each attempt opens a Transport that hands frames to
`_on_frame` synchronously as bytes arrive, so protocol state changes happen in wire order
without awaits. The supervisor decides what follows an attempt from the outcome the handlers recorded.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from broker.protocol.actions import Action

from ..auth import Auth
from ..errors import (
    AblyError,
    connection_closed,
    connection_suspended,
    disconnected,
    timed_out,
)
from ..events import EventEmitter, EventStream, Listener
from ..options import ClientOptions
from ..types import (
    ConnectionDetails,
    ConnectionEvent,
    ConnectionState,
    ConnectionStateChange,
    TokenDetails,
)
from ..wire import DEFAULT_MAX_MESSAGE_SIZE, PROTOCOL_VERSION
from .pending import Pending, PendingQueue, Serials
from .recovery import RecoveryKey
from .transport import Transport

if TYPE_CHECKING:
    from .channel import Channels

log = logging.getLogger(__name__)

DEFAULT_CONNECTION_STATE_TTL = 120.0
MAX_BUNDLE_MESSAGES = 100
_TERMINAL = (ConnectionState.CLOSED, ConnectionState.FAILED)
_CHANNEL_ACTIONS = frozenset({Action.ATTACHED, Action.DETACHED, Action.MESSAGE, Action.PRESENCE, Action.SYNC,
                              Action.ANNOTATION, Action.OBJECT, Action.OBJECT_SYNC})


@dataclass(slots=True)
class _Outcome:
    kind: Literal["retry", "token", "failed", "closed"]
    reason: AblyError | None = None


def retry_delay(base: float, attempt: int) -> float:
    """Ably's backoff: base x min((n+2)/3, 2) with 0.8-1.0 jitter."""
    return base * min((attempt + 2) / 3, 2.0) * (1 - random.random() * 0.2)


class Connection:
    """`client.connection`: its state, id and key, and state-change events."""

    def __init__(self, options: ClientOptions, auth: Auth) -> None:
        self._options = options
        self._auth = auth
        self._channels: Channels | None = None
        self.state = ConnectionState.INITIALIZED
        self.id: str | None = None
        self.key: str | None = None
        self.details: ConnectionDetails | None = None
        self.error_reason: AblyError | None = None
        self._events: EventEmitter[ConnectionStateChange] = EventEmitter()
        self._pending = PendingQueue(options.timeouts.publish)
        self._open: list[Pending] = []  # unsent bundles, in queue order
        self._joinable: dict[str, Pending] = {}  # per channel, the bundle a publish may join
        self._pings: dict[str, asyncio.Future[None]] = {}
        self._transport: Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._outcome: _Outcome | None = None
        self._close_requested = False
        self._disconnected_since: float | None = None
        self._auth_waiter: asyncio.Future[None] | None = None
        self._connected_in_attempt = False
        self._background: set[asyncio.Task[Any]] = set()
        self._recovering: RecoveryKey | None = None
        auth.on_token = self._reauthorize

    def _attach_channels(self, channels: Channels) -> None:
        self._channels = channels

    def _recover_from(self, text: str | None) -> None:
        """Take a saved connection over on the first connect: msgSerial and channel cursors now,
        `recover=` on the wire (a key that does not decode is ignored, as ably-js does)."""
        key = RecoveryKey.decode(text) if text else None
        if key is None:
            return
        self._recovering = key
        self._pending.next_serial = key.msg_serial
        if self._channels is not None:
            for name, serial in key.channel_serials.items():
                self._channels.get(name).channel_serial = serial

    # --- public API ----------------------------------------------------------------------

    def create_recovery_key(self) -> str | None:
        """What another process needs to take this connection over (None before the first CONNECTED):
        save it after each message handled and pass it as `Realtime(recover=...)` after a restart."""
        if not self.key:
            return None
        serials = {c.name: c.channel_serial for c in self._channels or [] if c.channel_serial}
        return RecoveryKey(self.key, self._pending.next_serial, serials).encode()

    @property
    def msg_serial(self) -> int:
        """The msgSerial the next acknowledged ProtocolMessage will get (restarts at 0 per connection)."""
        return self._pending.next_serial

    def on(self, listener: Listener[ConnectionStateChange],
           event: ConnectionEvent | ConnectionState | None = None) -> None:
        """Call `listener` on every state change, or only on `event`."""
        self._events.on(listener, _match(event))

    def once(self, listener: Listener[ConnectionStateChange],
             event: ConnectionEvent | ConnectionState | None = None) -> None:
        self._events.once(listener, _match(event))

    def off(self, listener: Listener[ConnectionStateChange] | None = None) -> None:
        self._events.off(listener)

    def state_changes(self) -> EventStream[ConnectionStateChange]:
        """`async for change in connection.state_changes()`: every change from now on."""
        return self._events.stream()

    async def wait_for(self, *states: ConnectionState, timeout: float | None = None) -> ConnectionState:
        """Wait until the connection is in one of `states` (returns at once if it already is)."""
        if self.state in states:
            return self.state
        limit = timeout if timeout is not None else self._options.timeouts.request
        stream = self._events.stream(lambda change: change.current in states)
        try:
            async with asyncio.timeout(limit):
                change = await anext(stream, None)
        except TimeoutError:
            raise timed_out(f"connection state {'/'.join(states)} (state is {self.state})", limit) from None
        finally:
            stream.close()
        if change is None:  # the connection ended (closed or failed) first
            raise self.error_reason or connection_closed()
        return change.current

    def connect(self) -> None:
        """Start connecting (or retry now, if waiting between attempts); does not wait."""
        if self.state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING, ConnectionState.CLOSING):
            return
        self._close_requested = False
        if self._task is None or self._task.done():
            if self.state is ConnectionState.FAILED or self.state is ConnectionState.CLOSED:
                self.error_reason = None
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name="ably-connection")
        else:
            self._wake.set()

    async def connected(self, timeout: float | None = None) -> None:
        """Connect and wait until connected; raise the reason if the attempt fails instead."""
        self.connect()
        limit = timeout if timeout is not None else self._options.timeouts.connect + self._options.timeouts.request
        if self.state is ConnectionState.CONNECTED:
            return
        stream = self._events.stream(_settled)
        try:
            async with asyncio.timeout(limit):
                change = await anext(stream, None)
        except TimeoutError:
            raise timed_out("the connection to be established", limit) from None
        finally:
            stream.close()
        if change is None:
            raise self.error_reason or connection_closed()
        if change.current is not ConnectionState.CONNECTED:
            raise change.reason or AblyError(80000, 400, f"Connection is {change.current}")

    async def close(self) -> None:
        """Close gracefully: CLOSE/CLOSED, then the server forgets the connection (no resume)."""
        if self.state in _TERMINAL:
            return
        if self.state is ConnectionState.INITIALIZED:
            self._finish_closed()
            return
        if self.state is ConnectionState.CLOSING:  # another close() is in progress
            await self.wait_for(ConnectionState.CLOSED, timeout=2 * self._options.timeouts.request)
            return
        was_connected = self.state is ConnectionState.CONNECTED
        self._close_requested = True
        self._set_state(ConnectionState.CLOSING)
        transport = self._transport
        task = self._task
        if was_connected and transport is not None and task is not None:
            transport.send({"action": Action.CLOSE})
            try:
                async with asyncio.timeout(self._options.timeouts.request):
                    await asyncio.shield(task)
            except TimeoutError:
                log.warning("No CLOSED from the server within %gs; dropping the socket",
                            self._options.timeouts.request)
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._finish_closed()

    async def ping(self) -> float:
        """Round trip to the server and back, in seconds."""
        transport = self._transport
        if self.state is not ConnectionState.CONNECTED or transport is None:
            raise AblyError(80003, 400, f"Cannot ping while the connection is {self.state}")
        ping_id = secrets.token_hex(8)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pings[ping_id] = future
        started = time.perf_counter()
        transport.send({"action": Action.HEARTBEAT, "id": ping_id})
        try:
            async with asyncio.timeout(self._options.timeouts.request):
                await future
        except TimeoutError:
            raise timed_out("a ping reply", self._options.timeouts.request) from None
        finally:
            self._pings.pop(ping_id, None)
        return time.perf_counter() - started

    # --- used by channels ----------------------------------------------------------------

    @property
    def max_message_size(self) -> int:
        if self._options.max_message_size is not None:
            return self._options.max_message_size
        if self.details is not None and self.details.max_message_size:
            return self.details.max_message_size
        return DEFAULT_MAX_MESSAGE_SIZE

    def send(self, frame: dict[str, Any]) -> bool:
        """Send a frame that needs no ACK; False if not connected (the caller re-sends on CONNECTED)."""
        if self.state is not ConnectionState.CONNECTED or self._transport is None:
            return False
        self._transport.send(frame)
        return True

    def check_usable(self) -> None:
        """Raise why operations cannot be queued now (closed, failed or suspended)."""
        state = self.state
        if state in (ConnectionState.CLOSING, ConnectionState.CLOSED):
            raise connection_closed()
        if state is ConnectionState.FAILED:
            raise self.error_reason or AblyError(80000, 400, "Connection failed")
        if state is ConnectionState.SUSPENDED:
            raise connection_suspended()

    async def send_acked(self, frame: dict[str, Any], *, bundle_size: int | None = None) -> Serials:
        """Send (or queue until connected) a frame that needs an ACK; return its serials from the ACK.

        A plain publish passes `bundle_size` (its message bytes): publishes to one channel made in
        the same loop iteration then share a ProtocolMessage (one msgSerial, one ACK), up to
        maxMessageSize. Waits are bounded: the queue fails an entry after `timeouts.publish`.
        """
        self.check_usable()
        if bundle_size is None:
            self._flush_bundles()  # serials must follow queue order
            entry, future = self._pending.add(frame, len(frame.get("messages") or frame.get("presence") or frame.get("annotations") or ()))
            if self.state is ConnectionState.CONNECTED and self._transport is not None:
                self._transport.send(self._pending.number(entry))
            return await future
        messages = frame["messages"]
        bundle = self._joinable.get(frame["channel"])
        if (bundle is not None and bundle.size + bundle_size <= self.max_message_size
                and len(bundle.frame["messages"]) + len(messages) <= MAX_BUNDLE_MESSAGES):
            return await self._pending.join(bundle, messages, bundle_size)
        entry, future = self._pending.add(frame, len(messages), bundle_size)
        if not self._open:
            asyncio.get_running_loop().call_soon(self._flush_bundles)
        self._open.append(entry)
        self._joinable[frame["channel"]] = entry
        return await future

    def _flush_bundles(self) -> None:
        """Close the open bundles and, if connected, send them (otherwise CONNECTED will)."""
        if not self._open:
            return
        bundles, self._open = self._open, []
        self._joinable.clear()
        if self.state is ConnectionState.CONNECTED and self._transport is not None:
            for entry in bundles:
                self._transport.send(self._pending.number(entry))

    # --- state ---------------------------------------------------------------------------

    def _set_state(self, state: ConnectionState, reason: AblyError | None = None,
                   retry_in: float | None = None, event: ConnectionEvent | None = None) -> None:
        previous = self.state
        if state is previous and event is None:
            return
        self.state = state
        if reason is not None:
            self.error_reason = reason
        log.debug("connection %s -> %s (%s)", previous, state, reason)
        change = ConnectionStateChange(previous, state, event or ConnectionEvent(state.value), reason, retry_in)
        if event is None and self._channels is not None:
            self._channels._on_connection_state(state, reason)
        self._events.emit(change)

    def _drop_pending(self, error: AblyError) -> None:
        self._open.clear()
        self._joinable.clear()
        self._pending.fail_all(error)

    def _finish_closed(self) -> None:
        self.id = self.key = None
        self._drop_pending(connection_closed())
        self._fail_pings(connection_closed())
        self._set_state(ConnectionState.CLOSED)
        self._events.end_streams()

    def _finish_failed(self, reason: AblyError) -> None:
        self.id = self.key = None
        self._drop_pending(reason)
        self._fail_pings(reason)
        self._set_state(ConnectionState.FAILED, reason)
        self._events.end_streams(reason)

    def _fail_pings(self, error: AblyError) -> None:
        for future in self._pings.values():
            if not future.done():
                future.set_exception(error)
        if self._auth_waiter is not None and not self._auth_waiter.done():
            self._auth_waiter.set_exception(error)

    # --- supervisor ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            await self._lifecycle()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must surface as FAILED, not as a silently dead connection
            log.exception("Connection supervisor crashed")
            self._finish_failed(AblyError(50000, 500, f"Internal client error: {exc!r}"))

    async def _lifecycle(self) -> None:
        failures = 0
        renew = False
        token_retried = False
        while not self._close_requested:
            self._set_state(ConnectionState.CONNECTING)
            was_connected, outcome = await self._attempt(renew)
            renew = False
            if self._close_requested:
                return
            if outcome.kind == "closed":
                self._finish_closed()
                return
            if outcome.kind == "failed":
                self._finish_failed(outcome.reason or AblyError(80000, 400, "Connection failed"))
                return
            if was_connected:
                failures = 0
                token_retried = False
            if outcome.kind == "token":
                if not self._auth.can_renew:
                    assert outcome.reason is not None
                    self._finish_failed(AblyError(40171, 403, f"Token rejected and not renewable: "
                                                              f"{outcome.reason.message}"))
                    return
                renew = True
                if not token_retried:
                    token_retried = True
                    self._note_disconnected(outcome.reason, 0.0)
                    continue
            if was_connected:
                self._note_disconnected(outcome.reason, 0.0)
                continue
            failures += 1
            await self._sleep_interruptibly(self._schedule_retry(outcome.reason, failures))

    def _note_disconnected(self, reason: AblyError | None, retry_in: float) -> None:
        if self._disconnected_since is None:
            self._disconnected_since = time.monotonic()
        self._set_state(ConnectionState.DISCONNECTED, reason, retry_in)

    def _schedule_retry(self, reason: AblyError | None, failures: int) -> float:
        """Enter DISCONNECTED or, past connectionStateTtl, SUSPENDED; return the delay."""
        timeouts = self._options.timeouts
        if self._disconnected_since is None:
            self._disconnected_since = time.monotonic()
        ttl = timeouts.connection_state_ttl or (self.details.connection_state_ttl if self.details else None) \
            or DEFAULT_CONNECTION_STATE_TTL
        if time.monotonic() - self._disconnected_since >= ttl:
            self._drop_pending(connection_suspended())
            self._set_state(ConnectionState.SUSPENDED, connection_suspended(), timeouts.suspended_retry)
            return timeouts.suspended_retry
        delay = retry_delay(timeouts.disconnected_retry, failures)
        self._set_state(ConnectionState.DISCONNECTED, reason, delay)
        return delay

    async def _sleep_interruptibly(self, delay: float) -> None:
        self._wake.clear()
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _attempt(self, renew_token: bool) -> tuple[bool, _Outcome]:
        """One transport: open, handshake, run until it ends. Returns (reached CONNECTED, outcome)."""
        try:
            params = await self._query(renew_token)
        except AblyError as exc:
            return False, _Outcome("failed" if exc.status_code == 403 else "retry", exc)
        url = f"{self._options.ws_url}?{urlencode(params)}"
        try:
            transport = await Transport.open(url, self._options.format, self._options.timeouts.connect,
                                             self._on_frame)
        except AblyError as exc:
            return False, _Outcome("retry", exc)
        self._transport = transport
        self._outcome = None
        self._connected_in_attempt = False
        timer = asyncio.get_running_loop().call_later(
            self._options.timeouts.request, self._handshake_timeout, transport)
        try:
            reason = await transport.run()
        finally:
            timer.cancel()
            self._transport = None
        outcome = self._outcome or _Outcome("retry", reason or disconnected())
        return self._connected_in_attempt, outcome

    def _handshake_timeout(self, transport: Transport) -> None:
        if not self._connected_in_attempt:
            transport.abort(timed_out("CONNECTED", self._options.timeouts.request, 80003, 503))

    async def _query(self, renew_token: bool) -> dict[str, str]:
        opts = self._options
        params = dict(opts.transport_params)
        params.update(await self._auth.realtime_params(renew=renew_token))
        params["format"] = opts.format.value
        params["v"] = PROTOCOL_VERSION
        params["heartbeats"] = "true"
        if opts.client_id:
            params["clientId"] = opts.client_id
        if not opts.echo_messages:
            params["echo"] = "false"
        if self.key:
            params["resume"] = self.key
        elif self._recovering is not None:
            params["recover"] = self._recovering.connection_key
        return params

    # --- inbound frames ------------------------------------------------------------------

    def _on_frame(self, pm: dict[str, Any]) -> None:
        action = pm.get("action")
        if action in _CHANNEL_ACTIONS:
            if self._channels is not None:
                self._channels._on_frame(pm)
        elif action == Action.ACK:
            self._pending.ack(int(pm.get("msgSerial") or 0), int(pm.get("count") or 1), pm.get("res"))
        elif action == Action.NACK:
            error = AblyError.from_wire(pm.get("error"), 50001, 500) if pm.get("error") else \
                AblyError(50001, 500, "Message rejected by the server")
            self._pending.nack(int(pm.get("msgSerial") or 0), int(pm.get("count") or 1), error)
        elif action == Action.HEARTBEAT:
            future = self._pings.get(pm.get("id") or "")
            if future is not None and not future.done():
                future.set_result(None)
        elif action == Action.CONNECTED:
            self._on_connected(pm)
        elif action == Action.ERROR:
            self._on_error(pm)
        elif action == Action.DISCONNECTED:
            reason = AblyError.from_wire(pm["error"]) if pm.get("error") else disconnected("Server disconnected")
            self._end_attempt(_Outcome("token" if reason.is_token_error else "retry", reason))
        elif action == Action.CLOSED:
            self._end_attempt(_Outcome("closed"))
        elif action == Action.AUTH:
            self._spawn(self._server_requested_auth())
        else:
            log.debug("Ignoring protocol message with action %r", action)

    def _end_attempt(self, outcome: _Outcome) -> None:
        self._outcome = outcome
        if self._transport is not None:
            self._transport.finish(outcome.reason)

    def _on_error(self, pm: dict[str, Any]) -> None:
        if pm.get("channel"):
            if self._channels is not None:
                self._channels._on_frame(pm)
            return
        reason = AblyError.from_wire(pm.get("error"), 80000, 400)
        if self._auth_waiter is not None and not self._auth_waiter.done():
            self._auth_waiter.set_exception(reason)
        self._end_attempt(_Outcome("token" if reason.is_token_error else "failed", reason))

    def _on_connected(self, pm: dict[str, Any]) -> None:
        connection_id = pm.get("connectionId")
        raw_details = pm.get("connectionDetails")
        details = ConnectionDetails.from_wire(raw_details if isinstance(raw_details, dict) else {})
        error = AblyError.from_wire(pm["error"]) if pm.get("error") else None
        configured = self._options.client_id
        if configured and details.client_id not in (None, "*", configured):
            self._end_attempt(_Outcome("failed", AblyError(
                40102, 401, f"Server assigned clientId {details.client_id!r}, configured {configured!r}")))
            return
        if details.client_id and details.client_id != "*":
            self._auth.client_id = details.client_id
        if self.state is ConnectionState.CONNECTED and connection_id == self.id:
            self.details = details
            self.key = details.connection_key or self.key
            if self._auth_waiter is not None and not self._auth_waiter.done():
                self._auth_waiter.set_result(None)
            self._set_state(ConnectionState.CONNECTED, error, event=ConnectionEvent.UPDATE)
            return
        # a recovered connection keeps the key's msgSerial, as ably-js does; a failed recover starts at 0
        resumed = (self.id is not None and connection_id == self.id) or (self._recovering is not None
                                                                          and error is None)
        self._recovering = None
        self.id = connection_id
        self.key = details.connection_key or None
        self.details = details
        self._connected_in_attempt = True
        self._disconnected_since = None
        transport = self._transport
        assert transport is not None
        if details.max_idle_interval:
            transport.set_idle_timeout(details.max_idle_interval + self._options.timeouts.idle_margin)
        self.error_reason = None
        self._set_state(ConnectionState.CONNECTED, error)
        if self._channels is not None:
            self._channels._on_connected(resumed)
        self._open.clear()
        self._joinable.clear()
        for frame in self._pending.to_send_after_connect(resumed):
            transport.send(frame)

    # --- authentication ------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _server_requested_auth(self) -> None:
        try:
            await self._auth.authorize()
        except AblyError as exc:
            log.warning("Re-authentication requested by the server failed: %s", exc)

    async def _reauthorize(self, details: TokenDetails) -> None:
        """After `auth.authorize()`: send the new token in-band and wait for the server's CONNECTED."""
        if self.state is not ConnectionState.CONNECTED or self._transport is None:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._auth_waiter = waiter
        self._transport.send({"action": Action.AUTH, "auth": {"accessToken": details.token}})
        try:
            async with asyncio.timeout(self._options.timeouts.request):
                await waiter
        except TimeoutError:
            raise timed_out("CONNECTED after AUTH", self._options.timeouts.request) from None
        finally:
            if self._auth_waiter is waiter:
                self._auth_waiter = None


def _match(event: ConnectionEvent | ConnectionState | None) -> Callable[[ConnectionStateChange], bool] | None:
    if event is None:
        return None
    wanted = ConnectionEvent(event.value)
    return lambda change: change.event is wanted


def _settled(change: ConnectionStateChange) -> bool:
    """An attempt to connect has ended: connected, or given up (an immediate retry is not giving up)."""
    if change.current is ConnectionState.CONNECTING:
        return False
    return not (change.current is ConnectionState.DISCONNECTED and change.retry_in == 0)
