"""Realtime channels: attach/detach with channelSerial continuity, subscribe, publish, mutations, history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from broker.protocol.actions import Action, Flag

from ..annotations import RealtimeAnnotations
from ..encoding import message_from_wire, message_to_wire
from ..errors import AblyError, connection_closed, connection_suspended, timed_out
from ..events import EventEmitter, EventStream, Listener
from ..outbound import MessageMutations, check_size, mutation, to_messages
from ..types import (
    ChannelEvent,
    ChannelState,
    ChannelStateChange,
    ConnectionState,
    Data,
    Message,
    MessageAction,
    MessageOperation,
    PaginatedResult,
    PublishResult,
    UpdateDeleteResult,
)
from ..wire import ChannelMode, flags_to_modes, modes_to_flags
from .presence import RealtimePresence

if TYPE_CHECKING:
    from ..rest import RestChannel
    from .client import Realtime
    from .connection import Connection

log = logging.getLogger(__name__)

_LIVE = (ChannelState.ATTACHING, ChannelState.ATTACHED, ChannelState.SUSPENDED)
NameFilter = str | Iterable[str] | None


def _name_filter(name: NameFilter) -> Callable[[Message], bool] | None:
    if name is None:
        return None
    if isinstance(name, str):
        return lambda message: message.name == name
    names = frozenset(name)
    return lambda message: message.name in names


def _channel_error(pm: dict[str, Any]) -> AblyError | None:
    error = pm.get("error")
    return AblyError.from_wire(error) if error else None


class RealtimeChannel(MessageMutations):
    """`client.channels.get(name)`: one channel's attachment, messages and presence."""

    def __init__(self, client: Realtime, name: str, params: Mapping[str, str] | None,
                 modes: Iterable[ChannelMode | str] | None) -> None:
        self._client = client
        self._connection: Connection = client.connection
        self.name: str = name
        self.requested_params: dict[str, str] = dict(params or {})
        self.requested_modes: frozenset[ChannelMode] | None = (
            frozenset(ChannelMode(m) for m in modes) if modes is not None else None)
        self.state: ChannelState = ChannelState.INITIALIZED
        self.error_reason: AblyError | None = None
        self.params: dict[str, str] = {}
        self.modes: frozenset[ChannelMode] = frozenset()
        self.attach_serial: str | None = None
        self.channel_serial: str | None = None
        self.presence = RealtimePresence(self)
        self.annotations = RealtimeAnnotations(self)
        self._events: EventEmitter[ChannelStateChange] = EventEmitter()
        self._messages: EventEmitter[Message] = EventEmitter()
        self._attach_waiter: asyncio.Future[ChannelStateChange | None] | None = None
        self._detach_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._rest: RestChannel = client.rest.channels.get(name)

    def __repr__(self) -> str:
        return f"<RealtimeChannel {self.name!r} {self.state}>"

    # --- state events --------------------------------------------------------------------

    def on(self, listener: Listener[ChannelStateChange], event: ChannelEvent | ChannelState | None = None) -> None:
        wanted = ChannelEvent(event.value) if event is not None else None
        self._events.on(listener, (lambda c: c.event is wanted) if wanted else None)

    def off(self, listener: Listener[ChannelStateChange] | None = None) -> None:
        self._events.off(listener)

    def state_changes(self) -> EventStream[ChannelStateChange]:
        return self._events.stream()

    # --- attach / detach -----------------------------------------------------------------

    async def attach(self) -> ChannelStateChange | None:
        """Attach (or wait for the attach in progress); returns the ATTACHED change, None if already attached."""
        if self.state is ChannelState.ATTACHED:
            return None
        self._connection.check_usable()
        self._connection.connect()
        waiter = self._begin_attach()
        timeouts = self._client.options.timeouts
        limit = timeouts.request if self._connection.state is ConnectionState.CONNECTED \
            else timeouts.connect + 2 * timeouts.request
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(waiter)
        except TimeoutError:
            raise timed_out(f"channel {self.name!r} to attach", limit, 90007, 408) from None

    async def detach(self) -> None:
        """Detach: stop receiving; presence members entered on this connection leave."""
        if self.state in (ChannelState.INITIALIZED, ChannelState.DETACHED):
            return
        if self.state is ChannelState.FAILED:
            raise self.error_reason or AblyError(90001, 400, "Channel failed")
        self._cancel_retry()
        if self._attach_waiter is not None and not self._attach_waiter.done():
            self._attach_waiter.set_exception(AblyError(90000, 400, "Detach requested while attaching"))
            self._attach_waiter.exception()
        if self._connection.state is not ConnectionState.CONNECTED:
            self._detached(None)
            return
        if self._detach_waiter is None or self._detach_waiter.done():
            self._detach_waiter = asyncio.get_running_loop().create_future()
        self._set_state(ChannelState.DETACHING)
        self._send_detach()
        limit = self._client.options.timeouts.request
        try:
            async with asyncio.timeout(limit):
                await asyncio.shield(self._detach_waiter)
        except TimeoutError:
            raise timed_out(f"channel {self.name!r} to detach", limit, 90007, 408) from None

    async def set_options(self, *, params: Mapping[str, str] | None = None,
                          modes: Iterable[ChannelMode | str] | None = None) -> None:
        """Change params/modes; an attached channel re-attaches to apply them."""
        self.requested_params = dict(params or {})
        self.requested_modes = frozenset(ChannelMode(m) for m in modes) if modes is not None else None
        if self.state in (ChannelState.ATTACHED, ChannelState.ATTACHING):
            waiter = self._begin_attach(force=True)
            limit = self._client.options.timeouts.request
            try:
                async with asyncio.timeout(limit):
                    await asyncio.shield(waiter)
            except TimeoutError:
                raise timed_out(f"channel {self.name!r} to re-attach", limit, 90007, 408) from None

    def _begin_attach(self, reason: AblyError | None = None, force: bool = False) -> asyncio.Future[
            ChannelStateChange | None]:
        if self._attach_waiter is None or self._attach_waiter.done():
            self._attach_waiter = asyncio.get_running_loop().create_future()
        waiter = self._attach_waiter
        if self.state is not ChannelState.ATTACHING and not (force and self.state is ChannelState.ATTACHED):
            self._set_state(ChannelState.ATTACHING, reason)
        self._send_attach()
        return waiter

    def _send_attach(self) -> None:
        frame: dict[str, Any] = {"action": Action.ATTACH, "channel": self.name}
        if self.requested_modes is not None:
            frame["flags"] = modes_to_flags(self.requested_modes)
        if self.requested_params:
            frame["params"] = self.requested_params
        if self.channel_serial:
            frame["channelSerial"] = self.channel_serial
        if self._connection.send(frame):
            self._start_timer(self._attach_timed_out)

    def _send_detach(self) -> None:
        if self._connection.send({"action": Action.DETACH, "channel": self.name}):
            self._start_timer(self._detach_timed_out)

    def _start_timer(self, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(self._client.options.timeouts.request, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _attach_timed_out(self) -> None:
        self._timer = None
        error = timed_out(f"ATTACHED on {self.name!r}", self._client.options.timeouts.request, 90007, 408)
        self._suspend(error)

    def _detach_timed_out(self) -> None:
        self._timer = None
        error = timed_out(f"DETACHED on {self.name!r}", self._client.options.timeouts.request, 90007, 408)
        if self._detach_waiter is not None and not self._detach_waiter.done():
            self._detach_waiter.set_exception(error)
        self._set_state(ChannelState.ATTACHED, error)

    def _suspend(self, error: AblyError) -> None:
        """SUSPENDED, and try again after channel_retry while the connection is up."""
        self._set_state(ChannelState.SUSPENDED, error)
        self._reject_attach(error)
        self._cancel_retry()
        self._retry = asyncio.get_running_loop().call_later(self._client.options.timeouts.channel_retry,
                                                            self._retry_attach)

    def _retry_attach(self) -> None:
        self._retry = None
        if self.state is ChannelState.SUSPENDED and self._connection.state is ConnectionState.CONNECTED:
            self._begin_attach()

    def _reject_attach(self, error: AblyError) -> None:
        waiter = self._attach_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
            waiter.exception()  # the caller may have stopped waiting; the error is in the state change

    def _set_state(self, state: ChannelState, reason: AblyError | None = None, *, resumed: bool = False,
                   has_backlog: bool = False, event: ChannelEvent | None = None) -> ChannelStateChange | None:
        previous = self.state
        if state is previous and event is None:
            return None
        self.state = state
        if reason is not None:
            self.error_reason = reason
        change = ChannelStateChange(previous, state, event or ChannelEvent(state.value), reason, resumed, has_backlog)
        log.debug("channel %s %s -> %s (%s)", self.name, previous, state, reason)
        self._events.emit(change)
        return change

    def _detached(self, reason: AblyError | None) -> None:
        self._cancel_timer()
        self._cancel_retry()
        self.channel_serial = None
        self._set_state(ChannelState.DETACHED, reason)
        self.presence._on_channel_ended(None)
        self._messages.end_streams()
        if self._detach_waiter is not None and not self._detach_waiter.done():
            self._detach_waiter.set_result(None)

    def _failed(self, reason: AblyError) -> None:
        self._cancel_timer()
        self._cancel_retry()
        self.channel_serial = None
        self._set_state(ChannelState.FAILED, reason)
        self._reject_attach(reason)
        if self._detach_waiter is not None and not self._detach_waiter.done():
            self._detach_waiter.set_exception(reason)
            self._detach_waiter.exception()
        self.presence._on_channel_ended(reason)
        self._messages.end_streams(reason)

    # --- inbound -------------------------------------------------------------------------

    def _on_attached(self, pm: dict[str, Any]) -> None:
        if self.state is ChannelState.DETACHING:
            self._send_detach()  # a late ATTACHED: insist on the detach the caller asked for
            return
        self._cancel_timer()
        self._cancel_retry()
        flags = int(pm.get("flags") or 0)
        resumed = bool(flags & Flag.RESUMED)
        serial = pm.get("channelSerial")
        if serial:
            self.channel_serial = serial
            if not resumed or self.attach_serial is None:
                self.attach_serial = serial
        self.modes = flags_to_modes(flags)
        params = pm.get("params")
        self.params = dict(params) if isinstance(params, dict) else {}
        error = _channel_error(pm)
        if self.state is ChannelState.ATTACHED:
            change = None
            if not resumed:
                self._set_state(ChannelState.ATTACHED, error, resumed=False, event=ChannelEvent.UPDATE)
        else:
            change = self._set_state(ChannelState.ATTACHED, error, resumed=resumed,
                                     has_backlog=bool(flags & Flag.HAS_BACKLOG))
        self.presence._on_attached(bool(flags & Flag.HAS_PRESENCE), resumed)
        waiter = self._attach_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(change)

    def _on_detached(self, pm: dict[str, Any]) -> None:
        error = _channel_error(pm)
        if self.state is ChannelState.DETACHING:
            self._detached(error)
        elif self.state in (ChannelState.ATTACHED, ChannelState.SUSPENDED):
            self._cancel_timer()
            self._begin_attach(error)  # the server dropped the attachment: get it back
        elif self.state is ChannelState.ATTACHING:
            self._cancel_timer()
            self._suspend(error or AblyError(90001, 400, "Server detached the channel while attaching"))

    def _on_message(self, pm: dict[str, Any]) -> None:
        if self.state is not ChannelState.ATTACHED:
            log.debug("Dropping MESSAGE for %s in state %s", self.name, self.state)
            return
        serial = pm.get("channelSerial")
        if serial:
            self.channel_serial = serial
        items = pm.get("messages")
        if not items:
            return
        pm_id = pm.get("id")
        connection_id = pm.get("connectionId")
        timestamp = pm.get("timestamp")
        messages = [message_from_wire(obj, pm_id, index, connection_id, timestamp)
                    for index, obj in enumerate(items) if isinstance(obj, dict)]
        self._messages.emit_many(messages)

    def _on_connected(self, resumed: bool) -> None:
        """After any CONNECTED: re-attach from our cursor (attached channels stay ATTACHED meanwhile)."""
        if self.state in _LIVE:
            if self.state is ChannelState.ATTACHED:
                self._send_attach()
            else:
                self._begin_attach()
        elif self.state is ChannelState.DETACHING:
            self._send_detach()

    def _on_connection_state(self, state: ConnectionState, reason: AblyError | None) -> None:
        if state is ConnectionState.SUSPENDED and self.state in (ChannelState.ATTACHING, ChannelState.ATTACHED):
            self._cancel_timer()
            error = reason or connection_suspended()
            self._set_state(ChannelState.SUSPENDED, error)
            self._reject_attach(error)
        elif state is ConnectionState.FAILED and self.state in (*_LIVE, ChannelState.DETACHING):
            self._failed(reason or AblyError(80000, 400, "Connection failed"))
        elif state is ConnectionState.CLOSED and self.state in (*_LIVE, ChannelState.DETACHING):
            self._reject_attach(connection_closed())
            self._detached(None)
        elif state is ConnectionState.CLOSED:
            self._messages.end_streams()
        elif state is ConnectionState.DISCONNECTED:
            self._cancel_timer()  # no reply can come on a dead transport; CONNECTED re-sends

    # --- messages ------------------------------------------------------------------------

    async def subscribe(self, listener: Listener[Message], name: NameFilter = None) -> ChannelStateChange | None:
        """Call `listener` for each message (optionally only those named `name`); attaches the channel."""
        self._messages.on(listener, _name_filter(name))
        return await self.attach()

    def unsubscribe(self, listener: Listener[Message] | None = None) -> None:
        """Remove one listener, or all of them."""
        self._messages.off(listener)

    def messages(self, name: NameFilter = None) -> EventStream[Message]:
        """`async for message in channel.messages()`: messages from now on; attaches on first use."""
        return self._messages.stream(_name_filter(name), start=self.attach)

    async def publish(self, name_or_messages: str | Message | Sequence[Message] | None = None, data: Data = None,
                      *, extras: dict[str, Any] | None = None, params: dict[str, str] | None = None) -> PublishResult:
        """Publish in one ProtocolMessage; resolves with the serials once the server ACKs it."""
        messages = to_messages(name_or_messages, data, extras)
        size = check_size(messages, self._connection.max_message_size)
        self._connection.check_usable()
        if self.state in (ChannelState.SUSPENDED, ChannelState.FAILED):
            raise self.error_reason or AblyError(90001, 400, f"Channel is {self.state}")
        fmt = self._client.options.format
        frame: dict[str, Any] = {"action": Action.MESSAGE, "channel": self.name,
                                 "messages": [message_to_wire(m, fmt) for m in messages]}
        if params:
            frame["params"] = params
        serials = await self._connection.send_acked(frame, bundle_size=None if params else size)
        return PublishResult(serials or [None] * len(messages))

    async def _mutate(self, message: Message, action: MessageAction, operation: MessageOperation | None,
                      params: dict[str, str] | None) -> UpdateDeleteResult:
        target = mutation(message, action)
        check_size([target], self._connection.max_message_size)
        frame: dict[str, Any] = {
            "action": Action.MESSAGE, "channel": self.name,
            "messages": [message_to_wire(target, self._client.options.format, operation or MessageOperation())]}
        if params:
            frame["params"] = params
        serials = await self._connection.send_acked(frame)
        return UpdateDeleteResult(serials[0] if serials else None)

    async def history(self, *, until_attach: bool = False, start: int | None = None, end: int | None = None,
                      direction: Literal["backwards", "forwards"] = "backwards",
                      limit: int = 100) -> PaginatedResult[Message]:
        """Stored messages over REST; `until_attach` stops exactly where live delivery began."""
        from_serial = None
        if until_attach:
            if self.state is not ChannelState.ATTACHED or not self.attach_serial:
                raise AblyError(90001, 400, "history(until_attach=True) needs an attached channel")
            from_serial = self.attach_serial
        return await self._rest.history(start=start, end=end, direction=direction, limit=limit,
                                        from_serial=from_serial)

    async def get_message(self, serial: str) -> Message:
        return await self._rest.get_message(serial)

    async def get_message_versions(self, serial: str, *, limit: int = 100) -> PaginatedResult[Message]:
        return await self._rest.get_message_versions(serial, limit=limit)


class Channels:
    """`client.channels`: channels by name."""

    def __init__(self, client: Realtime) -> None:
        self._client = client
        self._channels: dict[str, RealtimeChannel] = {}

    def get(self, name: str, *, params: Mapping[str, str] | None = None,
            modes: Iterable[ChannelMode | str] | None = None) -> RealtimeChannel:
        """The channel named `name`, created on first use (the name is sent exactly as given)."""
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = RealtimeChannel(self._client, name, params, modes)
            return channel
        if params is None and modes is None:
            return channel
        new_params = dict(params or {})
        new_modes = frozenset(ChannelMode(m) for m in modes) if modes is not None else None
        if (new_params, new_modes) != (channel.requested_params, channel.requested_modes):
            if channel.state in (ChannelState.ATTACHED, ChannelState.ATTACHING):
                raise AblyError(40000, 400, "channels.get() cannot change the options of an attached channel; "
                                            "use channel.set_options()")
            channel.requested_params, channel.requested_modes = new_params, new_modes
        return channel

    async def release(self, name: str) -> None:
        """Detach and forget a channel."""
        channel = self._channels.pop(name, None)
        if channel is not None and channel.state in (ChannelState.ATTACHED, ChannelState.ATTACHING):
            await channel.detach()

    def __contains__(self, name: object) -> bool:
        return name in self._channels

    def __iter__(self) -> Iterator[RealtimeChannel]:
        return iter(list(self._channels.values()))

    def __len__(self) -> int:
        return len(self._channels)

    def _on_frame(self, pm: dict[str, Any]) -> None:
        channel = self._channels.get(pm.get("channel") or "")
        if channel is None:
            log.debug("Frame for unknown channel %r", pm.get("channel"))
            return
        action = pm.get("action")
        if action == Action.MESSAGE:
            channel._on_message(pm)
        elif action == Action.PRESENCE:
            channel.presence._on_presence(pm)
        elif action == Action.ANNOTATION:
            channel.annotations._on_annotation(pm)
        elif action == Action.SYNC:
            channel.presence._on_sync(pm)
        elif action == Action.ATTACHED:
            channel._on_attached(pm)
        elif action == Action.DETACHED:
            channel._on_detached(pm)
        elif action == Action.ERROR:
            channel._failed(_channel_error(pm) or AblyError(90000, 400, "Channel error"))

    def _on_connected(self, resumed: bool) -> None:
        for channel in list(self._channels.values()):
            channel._on_connected(resumed)

    def _on_connection_state(self, state: ConnectionState, reason: AblyError | None) -> None:
        for channel in list(self._channels.values()):
            channel._on_connection_state(state, reason)
