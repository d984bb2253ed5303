"""Realtime presence: the member set (kept in sync from PRESENCE and SYNC), enter/update/leave, re-entry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from broker.protocol.actions import Action

from ..encoding import presence_from_wire, presence_to_wire
from ..errors import AblyError, timed_out
from ..events import EventEmitter, EventStream, Listener
from ..types import (
    ChannelEvent,
    ChannelState,
    Data,
    PaginatedResult,
    PresenceAction,
    PresenceMessage,
)

if TYPE_CHECKING:
    from .channel import RealtimeChannel

log = logging.getLogger(__name__)


def _synthesized(msg: PresenceMessage) -> bool:
    """A message the server made up (e.g. a leave after a drop) has no id of its connection's."""
    return not msg.id or not msg.connection_id or not msg.id.startswith(msg.connection_id + ":")


def _id_parts(msg: PresenceMessage) -> tuple[int, int]:
    parts = (msg.id or "").split(":")
    try:
        return int(parts[-2]), int(parts[-1])
    except (IndexError, ValueError):
        return -1, -1


def is_newer(incoming: PresenceMessage, existing: PresenceMessage) -> bool:
    """RTP2b: compare by (msgSerial, index) from the ids when both are genuine, else by timestamp."""
    if _synthesized(incoming) or _synthesized(existing):
        return (incoming.timestamp or 0) >= (existing.timestamp or 0)
    return _id_parts(incoming) > _id_parts(existing)


class PresenceMap:
    """Members by memberKey; during a SYNC, members not re-announced are removed at its end."""

    def __init__(self) -> None:
        self.members: dict[str, PresenceMessage] = {}
        self.sync_id: str | None = None
        self.syncing = False
        self._residual: set[str] = set()

    def put(self, msg: PresenceMessage) -> bool:
        key = msg.member_key
        existing = self.members.get(key)
        if existing is not None and not is_newer(msg, existing):
            return False
        self._residual.discard(key)
        stored = PresenceMessage(PresenceAction.PRESENT, msg.client_id, msg.connection_id, msg.data, msg.id,
                                 msg.timestamp, msg.encoding, msg.extras)
        self.members[key] = stored
        return True

    def remove(self, msg: PresenceMessage) -> bool:
        key = msg.member_key
        existing = self.members.get(key)
        if existing is not None and not is_newer(msg, existing):
            return False
        if self.syncing:
            absent = PresenceMessage(PresenceAction.ABSENT, msg.client_id, msg.connection_id, msg.data, msg.id,
                                     msg.timestamp, msg.encoding, msg.extras)
            self.members[key] = absent
        else:
            self.members.pop(key, None)
        return existing is not None

    def start_sync(self, sync_id: str | None) -> None:
        self.sync_id = sync_id
        self.syncing = True
        self._residual = set(self.members)

    def end_sync(self) -> list[PresenceMessage]:
        """Finish a sync; returns synthesized leaves for members that were not re-announced."""
        now = int(time.time() * 1000)
        leaves = [PresenceMessage(PresenceAction.LEAVE, m.client_id, m.connection_id, m.data, None, now,
                                  m.encoding, m.extras)
                  for key, m in self.members.items() if key in self._residual]
        self.members = {k: m for k, m in self.members.items()
                        if k not in self._residual and m.action is not PresenceAction.ABSENT}
        self._residual = set()
        self.syncing = False
        self.sync_id = None
        return leaves

    def clear(self) -> list[PresenceMessage]:
        now = int(time.time() * 1000)
        leaves = [PresenceMessage(PresenceAction.LEAVE, m.client_id, m.connection_id, m.data, None, now,
                                  m.encoding, m.extras)
                  for m in self.members.values() if m.action is not PresenceAction.ABSENT]
        self.members = {}
        self._residual = set()
        self.syncing = False
        return leaves

    def present(self) -> list[PresenceMessage]:
        return [m for m in self.members.values() if m.action is not PresenceAction.ABSENT]


class RealtimePresence:
    """`channel.presence`: who is here, and this client's own membership."""

    def __init__(self, channel: RealtimeChannel) -> None:
        self._channel = channel
        self._map = PresenceMap()
        self._events: EventEmitter[PresenceMessage] = EventEmitter()
        self._own: dict[str, PresenceMessage] = {}  # clientId -> our member on this connection
        self._sync_done = asyncio.Event()
        self._sync_error: AblyError | None = None
        self._reentries: set[asyncio.Task[Any]] = set()

    @property
    def sync_complete(self) -> bool:
        return self._sync_done.is_set()

    # --- own membership ------------------------------------------------------------------

    async def enter(self, data: Data = None, *, extras: dict[str, Any] | None = None) -> None:
        await self._act(PresenceAction.ENTER, None, data, extras)

    async def update(self, data: Data = None, *, extras: dict[str, Any] | None = None) -> None:
        await self._act(PresenceAction.UPDATE, None, data, extras)

    async def leave(self, data: Data = None, *, extras: dict[str, Any] | None = None) -> None:
        await self._act(PresenceAction.LEAVE, None, data, extras)

    async def enter_client(self, client_id: str, data: Data = None, *, extras: dict[str, Any] | None = None) -> None:
        """Enter on behalf of `client_id` (needs a wildcard credential)."""
        await self._act(PresenceAction.ENTER, client_id, data, extras)

    async def update_client(self, client_id: str, data: Data = None, *,
                            extras: dict[str, Any] | None = None) -> None:
        await self._act(PresenceAction.UPDATE, client_id, data, extras)

    async def leave_client(self, client_id: str, data: Data = None, *,
                           extras: dict[str, Any] | None = None) -> None:
        await self._act(PresenceAction.LEAVE, client_id, data, extras)

    async def _act(self, action: PresenceAction, client_id: str | None, data: Data,
                   extras: dict[str, Any] | None, message_id: str | None = None) -> None:
        if client_id is None:
            own = self._channel._client.auth.client_id
            if not own or own == "*":
                raise AblyError(40012, 400, "This client has no clientId to enter presence with; "
                                            "use enter_client() with a wildcard credential")
        if self._channel.state is not ChannelState.ATTACHED:
            await self._channel.attach()
        msg = PresenceMessage(action, client_id, None, data, message_id, None, None, extras)
        frame = {"action": Action.PRESENCE, "channel": self._channel.name,
                 "presence": [presence_to_wire(msg, self._channel._client.options.format)]}
        await self._channel._connection.send_acked(frame)

    # --- the member set ------------------------------------------------------------------

    async def get(self, *, client_id: str | None = None, connection_id: str | None = None,
                  wait_for_sync: bool = True) -> list[PresenceMessage]:
        """Members present now; attaches and waits for the initial sync unless told not to."""
        if self._channel.state is not ChannelState.ATTACHED:
            await self._channel.attach()
        if wait_for_sync and not self._sync_done.is_set():
            limit = self._channel._client.options.timeouts.request
            try:
                async with asyncio.timeout(limit):
                    await self._sync_done.wait()
            except TimeoutError:
                raise timed_out(f"the presence sync on {self._channel.name!r}", limit, 91005, 400) from None
            if self._sync_error is not None:
                raise self._sync_error
        return [m for m in self._map.present()
                if (client_id is None or m.client_id == client_id)
                and (connection_id is None or m.connection_id == connection_id)]

    async def subscribe(self, listener: Listener[PresenceMessage],
                        action: PresenceAction | Iterable[PresenceAction] | None = None) -> None:
        """Call `listener` for presence events (optionally only `action`); attaches the channel."""
        self._events.on(listener, _action_filter(action))
        if self._channel.state is not ChannelState.ATTACHED:
            await self._channel.attach()

    def unsubscribe(self, listener: Listener[PresenceMessage] | None = None) -> None:
        self._events.off(listener)

    def events(self, action: PresenceAction | Iterable[PresenceAction] | None = None) -> EventStream[PresenceMessage]:
        """`async for event in presence.events()`: presence events from now on."""
        return self._events.stream(_action_filter(action), start=self._channel.attach)

    async def history(self, *, start: int | None = None, end: int | None = None,
                      direction: Literal["backwards", "forwards"] = "backwards",
                      limit: int = 100) -> PaginatedResult[PresenceMessage]:
        return await self._channel._rest.presence.history(start=start, end=end, direction=direction, limit=limit)

    # --- inbound -------------------------------------------------------------------------

    def _apply(self, msg: PresenceMessage) -> bool:
        if msg.action is PresenceAction.LEAVE:
            applied = self._map.remove(msg)
        else:
            applied = self._map.put(msg)
        connection_id = self._channel._connection.id
        if msg.connection_id == connection_id and msg.client_id:
            if msg.action is PresenceAction.LEAVE:
                if not _synthesized(msg):
                    self._own.pop(msg.client_id, None)
            else:
                self._own[msg.client_id] = msg
        return applied

    def _decode(self, pm: dict[str, Any]) -> list[PresenceMessage]:
        pm_id = pm.get("id")
        connection_id = pm.get("connectionId")
        timestamp = pm.get("timestamp")
        return [presence_from_wire(obj, pm_id, index, connection_id, timestamp)
                for index, obj in enumerate(pm.get("presence") or []) if isinstance(obj, dict)]

    def _on_presence(self, pm: dict[str, Any]) -> None:
        if self._channel.state is not ChannelState.ATTACHED:
            return
        serial = pm.get("channelSerial")
        if serial:
            self._channel.channel_serial = serial
        for msg in self._decode(pm):
            if self._apply(msg):
                self._events.emit(msg)

    def _on_sync(self, pm: dict[str, Any]) -> None:
        cursor = pm.get("channelSerial")
        sync_id, _, position = (cursor or "").partition(":")
        if not self._map.syncing or (cursor and sync_id != self._map.sync_id):
            self._map.start_sync(sync_id or None)
        for msg in self._decode(pm):
            if self._apply(msg):
                self._events.emit(msg)
        if not cursor or not position:
            self._finish_sync()

    def _finish_sync(self) -> None:
        for leave in self._map.end_sync():
            self._events.emit(leave)
        self._sync_error = None
        self._sync_done.set()

    def _on_attached(self, has_presence: bool, resumed: bool) -> None:
        self._sync_error = None
        if has_presence:
            self._sync_done.clear()
            self._map.start_sync(None)
        elif not resumed:
            self._map.start_sync(None)
            self._finish_sync()
        else:
            self._sync_done.set()
        if not resumed:
            self._reenter_own()

    def _reenter_own(self) -> None:
        """RTP17: after an attach without continuity, enter again every member we had."""
        connection_id = self._channel._connection.id
        for member in list(self._own.values()):
            assert member.client_id is not None
            same_connection = member.connection_id == connection_id
            coro = self._act(PresenceAction.ENTER, member.client_id, member.data, member.extras,
                             member.id if same_connection else None)
            task = asyncio.get_running_loop().create_task(coro)
            self._reentries.add(task)
            task.add_done_callback(self._reentered)

    def _reentered(self, task: asyncio.Task[Any]) -> None:
        self._reentries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = AblyError(91004, 400, f"Automatic presence re-entry failed: {task.exception()}")
            log.warning("%s", error)
            self._channel._set_state(self._channel.state, error, event=ChannelEvent.UPDATE)

    def _on_channel_ended(self, error: AblyError | None) -> None:
        """Channel detached or failed: the member set is unknown until the next attach."""
        self._map.clear()
        self._own.clear()
        self._sync_error = error or AblyError(90001, 400, "Channel detached")
        self._sync_done.set()
        self._events.end_streams(error)


def _action_filter(action: PresenceAction | Iterable[PresenceAction] | None
                   ) -> Callable[[PresenceMessage], bool] | None:
    if action is None:
        return None
    actions = frozenset([action] if isinstance(action, PresenceAction) else action)
    return lambda msg: msg.action in actions
