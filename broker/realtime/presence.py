"""The presence side of a realtime connection: PRESENCE in, SYNC on attach, leaves when it goes.

A connection's members outlive its transport: they leave only when the connection's state is
discarded (CLOSE, or the resume window passing), so a resumed connection keeps them. DETACH
and an explicit leave remove them at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from ..auth import AuthContext
from ..core.hub import AppHub
from ..core.presence import PresenceSubscription, sync_frames
from ..protocol.actions import Flag
from ..protocol.channels import parse_channel_name
from ..protocol.errors import AblyError, capability_denied
from ..protocol.presence import PresenceMessage
from ..protocol.serial import MAX_INDEX
from ..protocol.wire import Format
from .acks import Result
from .tasks import Background

if TYPE_CHECKING:
    from .acks import _Slot
    from .connection import Attachment

log = logging.getLogger("broker.realtime")


class PresenceContext(Protocol):
    """What presence needs of its connection: identity, credential, attachments, where to write."""

    @property
    def id(self) -> str: ...

    @property
    def fmt(self) -> Format: ...

    @property
    def client_id(self) -> str | None: ...

    @property
    def auth(self) -> AuthContext: ...

    @property
    def max_message_size(self) -> int: ...

    def attachment(self, wire: str) -> Attachment | None: ...

    def attached_to(self, base: str) -> bool:
        """Whether any attachment (any channel string) is on the base channel `base`."""
        ...

    def send(self, obj: dict[str, Any]) -> None: ...

    def write_frame(self, frame: bytes) -> None: ...

    def resolve(self, slot: _Slot, result: Result) -> None:
        """Answer the ProtocolMessage behind `slot` (ACK or NACK, in msgSerial order)."""
        ...


class ConnectionPresence:
    """`background` runs work that outlives the connection's own tasks (CLOSE cancels those):
    a leave must still run."""

    def __init__(self, connection: PresenceContext, hub: AppHub, background: Background) -> None:
        self.connection = connection
        self._hub = hub
        self._background = background
        self.channels: set[str] = set()  # base names this connection has entered members on
        self._subs: dict[str, PresenceSubscription] = {}  # by channel string

    # -- PRESENCE from the client --------------------------------------------------------

    def handle(self, pm: dict[str, Any], slot: _Slot, msg_serial: int) -> None:
        """Check, stamp and apply one PRESENCE ProtocolMessage; ACK/NACK through `slot`."""
        conn = self.connection
        name = parse_channel_name(pm.get("channel"))
        if not conn.auth.capability.allows(name.base, "presence"):
            raise capability_denied(f"Unable to enter presence: capability does not permit presence on {name.wire}")
        attachment = conn.attachment(name.wire)
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
        update = self._hub.enter_presence(name.base, messages, conn.auth, conn.client_id, conn.id,
                                          f"{conn.id}:{msg_serial}", conn.max_message_size)
        self.channels.add(name.base)
        future = self._background.run(update)
        future.add_done_callback(lambda f: self._applied(slot, f))

    def _applied(self, slot: _Slot, future: asyncio.Future[Any]) -> None:
        resolve = self.connection.resolve
        if future.cancelled():
            resolve(slot, AblyError(50001, 500, "Presence update cancelled"))
            return
        exc = future.exception()
        if exc is None:
            resolve(slot, {})
        elif isinstance(exc, AblyError):
            resolve(slot, exc)
        else:
            log.error("presence update failed", exc_info=exc)
            resolve(slot, AblyError(50001, 500, f"Presence update failed: {exc}"))

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
            self._hub.presence.remove(base, old)
        if not attachment.modes & (Flag.PRESENCE | Flag.PRESENCE_SUBSCRIBE):
            return None
        everyone = bool(attachment.modes & Flag.PRESENCE_SUBSCRIBE)
        sub = PresenceSubscription(conn.write_frame, conn.fmt, wire, conn.id, everyone, owner=attachment)
        self._subs[wire] = sub
        self._hub.presence.add(base, sub)
        if not everyone:
            return None
        return await self._hub.presence_members(base) or None

    def attached(self, attachment: Attachment, members: list[PresenceMessage] | None) -> None:
        """Right after ATTACHED: the SYNC pages, then the events buffered since `prepare`."""
        sub = self._subs.get(attachment.name.wire)
        if sub is None or sub.owner is not attachment:
            return
        if members:
            for frame in sync_frames(attachment.name.wire, members, self.connection.fmt):
                self.connection.send(frame)
        self._hub.presence.go_live(attachment.name.base, sub)

    def abandon(self, attachment: Attachment) -> None:
        """The attach did not complete (superseded, failed, transport gone)."""
        sub = self._subs.get(attachment.name.wire)
        if sub is not None and sub.owner is attachment:
            del self._subs[attachment.name.wire]
            self._hub.presence.remove(attachment.name.base, sub)

    # -- leaving ------------------------------------------------------------------------

    def detached(self, attachment: Attachment) -> None:
        """DETACH (or a channel lost to a capability change): this connection's members leave now."""
        self.abandon(attachment)
        base = attachment.name.base
        if self.connection.attached_to(base):
            return
        self.channels.discard(base)
        self._background.run(self._leave(base))

    def transport_lost(self) -> None:
        """No socket to deliver to; members stay (a resume keeps them), the client re-attaches."""
        for wire, sub in self._subs.items():
            base = parse_channel_name(wire).base
            self._hub.presence.remove(base, sub)
        self._subs.clear()

    def discard(self) -> None:
        """The connection is gone for good: every member it entered leaves."""
        self.transport_lost()
        channels, self.channels = self.channels, set()
        for base in channels:
            self._background.run(self._leave(base))

    async def _leave(self, base: str) -> None:
        try:
            await self._hub.leave_connection(base, self.connection.id)
        except Exception:
            log.exception("presence leave on %s for connection %s failed", base, self.connection.id,
                          extra={"connection_id": self.connection.id, "channel": base})
