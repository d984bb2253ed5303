"""Checks every publish passes, realtime or REST: capability, identity and size."""

from __future__ import annotations

from collections.abc import Sequence

from ..auth import AuthContext, message_client_id
from ..protocol.errors import AblyError, too_large
from ..protocol.message import Message
from ..protocol.serial import MAX_INDEX


def prepare_publish(messages: Sequence[Message], channel: str, auth: AuthContext,
                    connection_client_id: str | None, max_size: int) -> None:
    """Authorise and stamp identity in place; raises AblyError for the NACK or HTTP error."""
    if not auth.capability.allows(channel, "publish"):
        raise AblyError(40160, 401, f"Unable to publish: capability does not permit publish on {channel}")
    if len(messages) > MAX_INDEX + 1:
        raise AblyError(40034, 400, f"Too many messages in one publish (max {MAX_INDEX + 1})")
    total = 0
    for message in messages:
        message.client_id = message_client_id(auth, connection_client_id, message.client_id)
        total += message.size
    if total > max_size:
        raise too_large(total, max_size)
