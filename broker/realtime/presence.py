"""The presence side of a realtime connection: PRESENCE in, SYNC on attach, leaves when it goes.

A connection's members outlive its transport: they leave only when the connection's state is
discarded (CLOSE, or the resume window passing), so a resumed connection keeps them. DETACH
and an explicit leave remove them at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..auth import presence_client_id
from ..core.channel import now_ms
from ..core.presence import PresenceSubscription, sync_frames, synthesized_leaves
from ..protocol.actions import Flag
from ..protocol.channels import parse_channel_name
from ..protocol.errors import AblyError, capability_denied, too_large
from ..protocol.presence import PresenceMessage
from ..protocol.serial import MAX_INDEX

if TYPE_CHECKING:
    from .acks import _Slot
    from .connection import Attachment, Connection

log = logging.getLogger("broker.realtime")

# Presence work outlives the connection's own tasks (CLOSE cancels those): a leave must still run.
_background: set[asyncio.Future[Any]] = set()


def _keep(future: asyncio.Future[Any]) -> asyncio.Future[Any]:
    _background.add(future)
    future.add_done_callback(_background.discard)
    return future


class ConnectionPresence:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.channels: set[str] = set()  # base names this connection has entered members on
        self._subs: dict[str, PresenceSubscription] = {}  # by channel string

    # -- PRESENCE from the client --------------------------------------------------------

    def handle(self, pm: dict[str, Any], slot: _Slot, msg_serial: int) -> None:
        """Check, stamp and apply one PRESENCE ProtocolMessage; ACK/NACK through `slot`."""
        conn = self.connection
        name = parse_channel_name(pm.get("channel"))
        if not conn.auth.capability.allows(name.base, "presence"):
            raise capability_denied(f"Unable to enter presence: capability does not permit presence on {name.wire}")
        attachment = conn.attachments.get(name.wire)
        if attachment is None:
            raise AblyError(91001, 400, f"Unable to enter presence channel {name.wire}: the channel is not attached")
        if not attachment.modes & Flag.PRESENCE:
            raise AblyError(40165, 401, f"Channel {name.wire} was attached without the presence mode")
        raw = pm.get("presence")
        if not isinstance(raw, list) or not raw:
            raise AblyError(40000, 400, "PRESENCE needs a non-empty presence array")
        if len(raw) > MAX_INDEX + 1:
            raise AblyError(40034, 400, f"Too many presence messages in one ProtocolMessage (max {MAX_INDEX + 1})")
        messages = [PresenceMessage.from_wire(item, conn.fmt) for item in raw]
        total = 0
        for index, message in enumerate(messages):
            message.client_id = presence_client_id(conn.auth, conn.client_id, message.client_id)
            message.connection_id = conn.id
            if message.id is None:
                message.id = f"{conn.id}:{msg_serial}:{index}"
            total += message.size
        if total > conn.config.max_message_size:
            raise too_large(total, conn.config.max_message_size)
        self.channels.add(name.base)
        future = _keep(asyncio.ensure_future(conn.hub.engine.presence_update(name.base, messages, now_ms())))
        future.add_done_callback(lambda f: self._applied(slot, f))

    def _applied(self, slot: _Slot, future: asyncio.Future[Any]) -> None:
        acks = self.connection.acks
        if future.cancelled():
            acks.resolve(slot, AblyError(50001, 500, "Presence update cancelled"))
            return
        exc = future.exception()
        if exc is None:
            acks.resolve(slot, {})
        elif isinstance(exc, AblyError):
            acks.resolve(slot, exc)
        else:
            log.error("presence update failed", exc_info=exc)
            acks.resolve(slot, AblyError(50001, 500, f"Presence update failed: {exc}"))

    # -- attach: HAS_PRESENCE, SYNC, live events ---------------------------------------------

    async def prepare(self, attachment: Attachment) -> list[PresenceMessage] | None:
        """Register the attachment for presence events (buffering) and read the SYNC snapshot.

        Returns the members to SYNC, or None when no SYNC will follow (then HAS_PRESENCE must
        not be set): without PRESENCE_SUBSCRIBE, or with nobody present.
        """
        conn = self.connection
        wire, base = attachment.name.wire, attachment.name.base
        old = self._subs.pop(wire, None)
        if old is not None:
            conn.hub.presence.remove(base, old)
        if not attachment.modes & (Flag.PRESENCE | Flag.PRESENCE_SUBSCRIBE):
            return None
        everyone = bool(attachment.modes & Flag.PRESENCE_SUBSCRIBE)
        sub = PresenceSubscription(conn.write_frame, conn.fmt, wire, conn.id, everyone, owner=attachment)
        self._subs[wire] = sub
        conn.hub.presence.add(base, sub)
        if not everyone:
            return None
        return await conn.hub.engine.presence_members(base) or None

    def attached(self, attachment: Attachment, members: list[PresenceMessage] | None) -> None:
        """Right after ATTACHED: the SYNC pages, then the events buffered since `prepare`."""
        sub = self._subs.get(attachment.name.wire)
        if sub is None or sub.owner is not attachment:
            return
        if members:
            for frame in sync_frames(attachment.name.wire, members, self.connection.fmt):
                self.connection.send(frame)
        self.connection.hub.presence.go_live(attachment.name.base, sub)

    def abandon(self, attachment: Attachment) -> None:
        """The attach did not complete (superseded, failed, transport gone)."""
        sub = self._subs.get(attachment.name.wire)
        if sub is not None and sub.owner is attachment:
            del self._subs[attachment.name.wire]
            self.connection.hub.presence.remove(attachment.name.base, sub)

    # -- leaving ------------------------------------------------------------------------

    def detached(self, attachment: Attachment) -> None:
        """DETACH (or a channel lost to a capability change): this connection's members leave now."""
        self.abandon(attachment)
        base = attachment.name.base
        if any(a.name.base == base for a in self.connection.attachments.values()):
            return
        self.channels.discard(base)
        _keep(asyncio.ensure_future(self._leave(base)))

    def transport_lost(self) -> None:
        """No socket to deliver to; members stay (a resume keeps them), the client re-attaches."""
        for wire, sub in self._subs.items():
            base = parse_channel_name(wire).base
            self.connection.hub.presence.remove(base, sub)
        self._subs.clear()

    def discard(self) -> None:
        """The connection is gone for good: every member it entered leaves."""
        self.transport_lost()
        channels, self.channels = self.channels, set()
        for base in channels:
            _keep(asyncio.ensure_future(self._leave(base)))

    async def _leave(self, base: str) -> None:
        engine = self.connection.hub.engine
        try:
            members = await engine.presence_members(base, connection_id=self.connection.id)
            if members:
                now = now_ms()
                await engine.presence_update(base, synthesized_leaves(members, now), now)
        except Exception:
            log.exception("presence leave on %s for connection %s failed", base, self.connection.id)
