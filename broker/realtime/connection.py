"""A realtime connection: the protocol state of one client, across transports (for resume).

The edge feeds decoded ProtocolMessages to `handle` and gives the connection a Transport to
write to; the connection never touches sockets itself.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

from ..auth import AuthContext, KeyStore, authenticate_bearer, for_inband_auth, reauthorise
from ..config import Config
from ..core.channel import AttachPoint, Rewind, Subscription, now_ms, parse_rewind
from ..core.hub import MUTATIONS, AppHub
from ..core.rollup import PARAM as ROLLUP_PARAM
from ..core.rollup import parse_window
from ..protocol.actions import ACKED_ACTIONS, DEFAULT_MODES, MODE_MASK, Action, Flag, MessageAction, parse_modes
from ..protocol.channels import ChannelName, parse_channel_name
from ..protocol.errors import AblyError
from ..protocol.message import Message
from ..protocol.serial import Position, parse_position
from ..protocol.wire import Format, as_int
from .acks import AckQueue, Result, _Slot
from .annotations import publish_annotations, unwatch_annotations, watch_annotations
from .presence import ConnectionPresence
from .tasks import Background

log = logging.getLogger("broker.realtime")

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
ACCEPTED_PARAMS = ("rewind", "rewindLimit", "echo", "modes", "delta", ROLLUP_PARAM)
RENEWAL_LEAD = 30.0


MAX_MSG_SERIAL = (1 << 53) - 1  # the SDKs count in JavaScript numbers


def _msg_serial(value: Any) -> int:
    """A msgSerial: an integer from 0, as the SDKs count them; anything else cannot be ACKed or
    NACKed (both name the msgSerial), so it is a connection error."""
    if value is None:
        raise AblyError(40000, 400, "A message needing acknowledgement has no msgSerial")
    if type(value) is not int or not 0 <= value <= MAX_MSG_SERIAL:
        raise AblyError(40000, 400, f"msgSerial must be an integer from 0 to {MAX_MSG_SERIAL}, "
                                    f"not {str(value)[:40]!r}")
    return value


class Transport(Protocol):
    """What the edge provides: a way to send ProtocolMessages and pre-framed bytes."""

    def send(self, obj: dict[str, Any]) -> None: ...

    def write_frame(self, frame: bytes) -> None: ...

    async def drained(self) -> bool:
        """Return once the client has room for more replay; False if the socket is closing."""
        ...

    def close(self) -> None: ...


def new_connection_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


@dataclass(eq=False, slots=True)
class Attachment:
    name: ChannelName
    modes: int
    params: dict[str, str]
    subscription: Subscription | None = None
    attempt: int = 0
    attached: bool = False


class Connection:
    def __init__(self, hub: AppHub, config: Config, keys: KeyStore, auth: AuthContext, client_id: str | None,
                 fmt: Format, echo: bool = True, background: Background | None = None) -> None:
        self.hub = hub
        self.config = config
        self.keys = keys
        self.client_id = client_id
        self.fmt = fmt
        self.echo = echo
        self.rollup_window: int | None = None  # the appendRollupWindow transport param: for the appends it publishes
        self.id = new_connection_id()
        self.key = f"{self.id}!{secrets.token_urlsafe(18)}"
        self.transport: Transport | None = None
        self.attachments: dict[str, Attachment] = {}
        self.acks = AckQueue(self.send, hub.metrics)
        self.presence = ConnectionPresence(self, hub, background if background is not None else Background())
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._auth = auth
        self._schedule_expiry()

    @property
    def auth(self) -> AuthContext:
        return self._auth

    @auth.setter
    def auth(self, auth: AuthContext) -> None:
        """A new credential (resume or AUTH): its capability and expiry apply from now on."""
        self._auth = auth
        self._schedule_expiry()

    def _schedule_expiry(self) -> None:
        """Ask for renewal ahead of expiry (server AUTH), and disconnect with 40142 at expiry."""
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        expires = self._auth.expires_ms
        if expires is None:
            return
        loop = asyncio.get_event_loop()
        remaining = (expires - now_ms()) / 1000
        lead = min(RENEWAL_LEAD, remaining / 4)
        self._timers = [loop.call_later(max(0.0, remaining - lead), self.send, {"action": Action.AUTH}),
                        loop.call_later(max(0.0, remaining), self._expired)]

    def _expired(self) -> None:
        error = AblyError(40142, 401, "Token expired")
        log.info("connection %s: token expired", self.id, extra={"connection_id": self.id})
        if self.transport is not None:
            transport = self.transport
            transport.send({"action": Action.DISCONNECTED, "error": error.to_wire()})
            transport.close()

    # -- what presence needs of its connection (realtime/presence.PresenceContext) ---------

    @property
    def max_message_size(self) -> int:
        return self.config.max_message_size

    def attachment(self, wire: str) -> Attachment | None:
        return self.attachments.get(wire)

    def attached_to(self, base: str) -> bool:
        return any(a.name.base == base for a in self.attachments.values())

    def resolve(self, slot: _Slot, result: Result) -> None:
        self.acks.resolve(slot, result)

    # -- transport plumbing -------------------------------------------------------------

    def send(self, obj: dict[str, Any]) -> None:
        if self.transport is not None:
            self.transport.send(obj)

    def write_frame(self, frame: bytes) -> None:
        if self.transport is not None:
            self.transport.write_frame(frame)

    async def drained(self) -> bool:
        return self.transport is not None and await self.transport.drained()

    def connected_message(self, error: AblyError | None = None) -> dict[str, Any]:
        details: dict[str, Any] = {
            "connectionKey": self.key,
            "maxMessageSize": self.config.max_message_size,
            "maxFrameSize": self.config.max_frame_size,
            "maxInboundRate": self.config.max_inbound_rate,
            "connectionStateTtl": self.config.connection_state_ttl_ms,
            "maxIdleInterval": self.config.max_idle_interval_ms,
            "serverId": self.config.server_id,
        }
        if self.client_id is not None:
            details["clientId"] = self.client_id
        msg: dict[str, Any] = {"action": Action.CONNECTED, "connectionId": self.id, "connectionDetails": details}
        if error is not None:
            msg["error"] = error.to_wire()
        return msg

    def attach_transport(self, transport: Transport, error: AblyError | None = None) -> None:
        self.transport = transport
        self.send(self.connected_message(error))

    def transport_lost(self) -> None:
        """The socket went away: stop delivery; attachments are re-made by the client's ATTACHes."""
        self.transport = None
        for attachment in self.attachments.values():
            self._unsubscribe(attachment)
            attachment.attached = False
            attachment.attempt += 1  # an ATTACH still in flight from the old transport is stale
        self.presence.transport_lost()

    def discard(self) -> None:
        """Drop all state (CLOSE, or the resume window passed)."""
        self.transport_lost()
        self.attachments.clear()
        self.presence.discard()
        for timer in self._timers:
            timer.cancel()
        for task in list(self._tasks):
            task.cancel()

    # -- inbound ----------------------------------------------------------------------

    def handle(self, pm: dict[str, Any]) -> None:
        action = as_int(pm.get("action"), "action")
        if action in ACKED_ACTIONS:
            self._handle_acked(action, pm)
        elif action == Action.HEARTBEAT:
            reply: dict[str, Any] = {"action": Action.HEARTBEAT}
            if isinstance(pm.get("id"), str):  # echoed as given: only a string id (any other value may
                reply["id"] = pm["id"]         # not be representable in the connection's format)
            self.send(reply)
        elif action == Action.ATTACH:
            self._spawn(self._attach(pm))
        elif action == Action.DETACH:
            self._detach(pm)
        elif action == Action.AUTH:
            self._reauth(pm)
        elif action in (Action.SYNC, Action.ACTIVATE):
            return
        else:
            raise AblyError(40000, 400, f"Unexpected action {action} from a client")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _channel_error(self, channel: str, error: AblyError) -> None:
        self.send({"action": Action.ERROR, "channel": channel, "error": error.to_wire()})

    # -- in-band AUTH ---------------------------------------------------------------------

    def _reauth(self, pm: dict[str, Any]) -> None:
        """Swap in a new token: same identity, new capability.

        A channel fails (40160) when the new capability no longer grants every mode it was
        attached with: narrowing only the mode bits would leave a live subscription (or
        presence) delivering what the new token may not read.
        """
        auth = pm.get("auth")
        token = auth.get("accessToken") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise AblyError(40101, 401, "AUTH needs auth.accessToken")
        try:
            new = authenticate_bearer(self.keys, token, now_ms(), raw=True)
            if new.app_id != self.hub.app_id:
                raise AblyError(40101, 401, "Re-authentication must use a credential of the connection's app")
            reauthorise(self.client_id, new)
        except AblyError as exc:
            raise for_inband_auth(exc) from exc
        self.auth = new
        self.send(self.connected_message())
        for wire, attachment in list(self.attachments.items()):
            granted = new.capability.modes_for(attachment.name.base, attachment.modes)
            if granted != attachment.modes:
                self.attachments.pop(wire)
                self._unsubscribe(attachment)
                self.presence.detached(attachment)
                self._channel_error(wire, AblyError(40160, 401, f"Capability no longer permits channel {wire}"))

    # -- attach / detach --------------------------------------------------------------

    async def _attach(self, pm: dict[str, Any]) -> None:
        wire = pm.get("channel")
        try:
            name = parse_channel_name(wire)
        except AblyError as exc:
            self._channel_error(wire if isinstance(wire, str) else "", exc)
            return
        attachment = self.attachments.get(name.wire)
        if attachment is not None:
            self._unsubscribe(attachment)
        try:
            attachment = self._new_attachment(name, pm, attachment)
            rewind = self._rewind(attachment.params)
            window = attachment.params.get(ROLLUP_PARAM)
            rollup = parse_window(window, f"the params of channel {name.wire}") if window is not None else None
            cursor = self._cursor(pm.get("channelSerial"))
        except AblyError as exc:
            self.attachments.pop(name.wire, None)
            self._channel_error(name.wire, exc)
            return
        attempt = attachment.attempt
        channel = self.hub.channel(name.base)
        sub: Subscription | None = None
        if attachment.modes & Flag.SUBSCRIBE:
            echo = self.echo and attachment.params.get("echo") != "false"
            sub = Subscription(self.write_frame, self.fmt, name.wire, self.id, echo, drained=self.drained,
                               rollup=rollup)
            attachment.subscription = sub
        watch_annotations(self, attachment)
        try:
            if sub is not None:
                point = await channel.attach(sub, cursor if not isinstance(cursor, AblyError) else None,
                                             None if cursor is not None else rewind)
            else:
                point = AttachPoint(await self.hub.head(name.base), [], resumed=False)
        except AblyError as exc:
            self._channel_error(name.wire, exc)
            return
        if point.backlog:  # replayed messages show their current summary, as history does
            point.backlog = await self.hub.annotations.with_summaries(name.base, point.backlog)
        presence_sync = await self.presence.prepare(attachment)
        if self.attachments.get(name.wire) is not attachment or attachment.attempt != attempt or self.transport is None:
            if sub is not None:
                channel.remove(sub)
            self.presence.abandon(attachment)
            return
        if isinstance(cursor, AblyError):
            point.error = cursor
        flags = attachment.modes
        if point.resumed:
            flags |= Flag.RESUMED
        if point.backlog:
            flags |= Flag.HAS_BACKLOG
        if presence_sync:
            flags |= Flag.HAS_PRESENCE
        attached: dict[str, Any] = {"action": Action.ATTACHED, "channel": name.wire,
                                    "channelSerial": str(point.position), "flags": int(flags)}
        if attachment.params:
            attached["params"] = attachment.params
        if point.error is not None:
            attached["error"] = point.error.to_wire()
        self.send(attached)
        attachment.attached = True
        if sub is not None and not await channel.go_live(sub, point, now_ms()):
            self.presence.abandon(attachment)  # detached, re-attached or cut off during the replay
            return
        self.presence.attached(attachment, presence_sync)

    def _new_attachment(self, name: ChannelName, pm: dict[str, Any], old: Attachment | None) -> Attachment:
        raw_params = pm.get("params") or {}
        if not isinstance(raw_params, dict):
            raise AblyError(40000, 400, "ATTACH params must be an object")
        params = {**name.params, **{str(k): str(v) for k, v in raw_params.items() if v is not None}}
        requested = (as_int(pm.get("flags"), "flags", 0) or 0) & MODE_MASK or int(DEFAULT_MODES)
        if "modes" in params:  # the channel param wins over the ATTACH flags, as on Ably
            from_param = parse_modes(params["modes"])
            if not from_param:
                raise AblyError(40000, 400, f"Invalid modes param {params['modes'][:100]!r} for channel {name.wire}")
            requested = from_param
        granted = self.auth.capability.modes_for(name.base, requested)
        if not granted:
            raise AblyError(40160, 401, f"Channel denied access based on given capability; channel = {name.wire}")
        accepted = {k: v for k, v in params.items() if k in ACCEPTED_PARAMS}
        attachment = Attachment(name, granted, accepted, attempt=(old.attempt + 1) if old else 0)
        self.attachments[name.wire] = attachment
        return attachment

    @staticmethod
    def _rewind(params: dict[str, str]) -> Rewind | None:
        value = params.get("rewind")
        return parse_rewind(value, params.get("rewindLimit")) if value is not None else None

    @staticmethod
    def _cursor(value: Any) -> Position | AblyError | None:
        if not value or not isinstance(value, str):
            return None
        try:
            return parse_position(value)
        except AblyError:
            return AblyError(90003, 404, f"Unable to recover channel: unrecognised channelSerial {value!r}")

    def _unsubscribe(self, attachment: Attachment) -> None:
        unwatch_annotations(self, attachment)
        if attachment.subscription is not None:
            channel = self.hub.get(attachment.name.base)
            if channel is not None:
                channel.remove(attachment.subscription)
                self.hub.release(attachment.name.base)
            attachment.subscription = None

    def _detach(self, pm: dict[str, Any]) -> None:
        wire = pm.get("channel")
        if not isinstance(wire, str):
            raise AblyError(40000, 400, "DETACH needs a channel")
        attachment = self.attachments.pop(wire, None)
        if attachment is not None:
            self._unsubscribe(attachment)
            self.presence.detached(attachment)
        self.send({"action": Action.DETACHED, "channel": wire})

    # -- publish ----------------------------------------------------------------------

    def _handle_acked(self, action: int, pm: dict[str, Any]) -> None:
        msg_serial = _msg_serial(pm.get("msgSerial"))
        if self.acks.known(msg_serial):
            return
        slot = self.acks.add(msg_serial)
        try:
            if action == Action.PRESENCE:
                self.presence.handle(pm, slot, msg_serial)
                return
            if action == Action.ANNOTATION:
                publish_annotations(self, pm, slot, msg_serial)
                return
            if action != Action.MESSAGE:
                raise AblyError(40000, 400, f"Action {action} is not supported by this broker yet")
            self._publish(pm, slot, msg_serial)
        except AblyError as exc:
            self.acks.resolve(slot, exc)
        except Exception:  # a bug must not leave this msgSerial, and every later one, unanswered
            log.exception("connection %s: msgSerial %d failed", self.id, msg_serial, extra={"connection_id": self.id})
            self.acks.resolve(slot, AblyError(50000, 500, "Internal error handling this message"))

    def _publish(self, pm: dict[str, Any], slot: _Slot, msg_serial: int) -> None:
        name = parse_channel_name(pm.get("channel"))
        attachment = self.attachments.get(name.wire)
        if attachment is not None and attachment.attached and not attachment.modes & Flag.PUBLISH:
            raise AblyError(40160, 401, f"Channel {name.wire} is attached without the publish mode")
        raw = pm.get("messages")
        if not isinstance(raw, list) or not raw:
            raise AblyError(40000, 400, "MESSAGE needs a non-empty messages array")
        began = time.perf_counter()
        messages = [Message.from_wire(m, self.fmt) for m in raw]
        if any(m.action != MessageAction.CREATE for m in messages):
            self._mutate(name.base, messages, slot, began)
            return
        future = asyncio.ensure_future(self.hub.publish(name.base, messages, self.auth, self.client_id,
                                                        self.config.max_message_size, id_base=f"{self.id}:{msg_serial}",
                                                        connection_id=self.id))
        future.add_done_callback(lambda f: self._published(slot, f, began))

    def _mutate(self, channel: str, messages: list[Message], slot: _Slot, began: float) -> None:
        if len(messages) != 1 or messages[0].action not in MUTATIONS:
            raise AblyError(40000, 400, "An update, delete or append is one message with action 1, 2 or 5")
        mutation = self.hub.mutate(channel, messages[0], self.auth, self.client_id, self.config.max_message_size)
        self.hub.metrics.realtime_messages_in += 1
        self.hub.metrics.realtime_message_bytes_in += messages[0].size
        live = self.hub.get(channel)
        if self.rollup_window is not None and live is not None and messages[0].action == MessageAction.APPEND:
            live.note_rollup_window(messages[0].serial or "", self.rollup_window)
        future = asyncio.ensure_future(mutation)
        future.add_done_callback(lambda f: self._published(slot, f, began))

    def _published(self, slot: _Slot, future: asyncio.Future[Any], began: float) -> None:
        self.hub.metrics.realtime_publish.observe(time.perf_counter() - began)
        if future.cancelled():
            self.acks.resolve(slot, AblyError(50001, 500, "Publish cancelled"))
            return
        exc = future.exception()
        if exc is not None:
            error = exc if isinstance(exc, AblyError) else AblyError(50001, 500, f"Publish failed: {exc}")
            if not isinstance(exc, AblyError):
                log.error("connection %s: publish failed", self.id, exc_info=exc, extra={"connection_id": self.id})
            self.acks.resolve(slot, error)
            return
        publication = future.result()
        if isinstance(publication, list):  # ephemeral: delivered, not stored, so no serials
            self.acks.resolve(slot, {"serials": [None] * len(publication)})
        elif publication.aggregates is not None:
            self.acks.resolve(slot, {"serials": [m.version["serial"] for m in publication.messages]})
        else:
            self.acks.resolve(slot, {"serials": [m.serial for m in publication.messages]})
