"""Checks every publish passes, realtime or REST, and the identity the server stamps on it."""

from __future__ import annotations

from collections.abc import Sequence

from ..auth import AuthContext, message_client_id, presence_client_id
from ..protocol.errors import AblyError, too_large
from ..protocol.message import Message
from ..protocol.presence import PresenceMessage
from ..protocol.serial import MAX_INDEX


def prepare_publish(messages: Sequence[Message], channel: str, auth: AuthContext,
                    connection_client_id: str | None, max_size: int) -> int:
    """Authorise and stamp identity in place; raises AblyError for the NACK or HTTP error.
    Returns the batch's size (Ably's message size, counted by the metrics)."""
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
    return total


def stamp_messages(messages: Sequence[Message], id_base: str, connection_id: str | None) -> list[str | None]:
    """Server identity on new messages (invariant 5): `<id_base>:<index>` ids where the client gave
    none, the publishing connection (None over REST), action create. Returns the client-supplied
    ids, the keys of idempotent publishing."""
    keys = [message.id for message in messages]
    for index, message in enumerate(messages):
        if message.id is None:
            message.id = f"{id_base}:{index}"
        message.connection_id = connection_id
        message.connection_key = None
        message.action = 0
    return keys


def prepare_presence(messages: Sequence[PresenceMessage], auth: AuthContext, connection_client_id: str | None,
                     connection_id: str, id_base: str, max_size: int) -> int:
    """Identity and size of member events from a connection, stamped in place like messages;
    returns their size."""
    total = 0
    for index, message in enumerate(messages):
        message.client_id = presence_client_id(auth, connection_client_id, message.client_id)
        message.connection_id = connection_id
        if message.id is None:
            message.id = f"{id_base}:{index}"
        total += message.size
    if total > max_size:
        raise too_large(total, max_size)
    return total
