"""Checks every update, delete and append passes, realtime or REST."""

from __future__ import annotations

from collections.abc import Callable

from ..auth import WILDCARD, AuthContext, message_client_id
from ..protocol.actions import MessageAction
from ..protocol.errors import AblyError, too_large
from ..protocol.message import Message, data_size
from .rules import ChannelRules

_OPERATION = {
    MessageAction.UPDATE: "message-update",
    MessageAction.APPEND: "message-update",
    MessageAction.DELETE: "message-delete",
}


def prepare_mutation(request: Message, channel: str, auth: AuthContext, connection_client_id: str | None,
                     rules: ChannelRules, max_size: int) -> tuple[Message, Callable[[Message], None]]:
    """The part to store and the check to run against the original once it is found.

    Only name, data, encoding, extras and the operation metadata (version clientId,
    description, metadata) are taken from the request: SDKs send a copy of a whole received
    message, whose id, timestamp and connectionId must not leak into the new version.
    """
    action = MessageAction(request.action)
    if not request.serial:
        raise AblyError(40003, 400, "An update, delete or append must name the message serial")
    rules.check_mutable(channel)
    operation = _OPERATION[action]
    can_any = auth.capability.allows(channel, f"{operation}-any")
    can_own = auth.capability.allows(channel, f"{operation}-own")
    identified = connection_client_id not in (None, WILDCARD)
    if not can_any and not can_own:
        raise AblyError(40160, 401, f"Capability does not permit {operation} on channel {channel}")
    if not can_any and not identified:
        raise AblyError(40166, 401, f"{operation}-own needs an identified client")
    version = request.version or {}
    operator = message_client_id(auth, connection_client_id, version.get("clientId"))
    meta = {k: version[k] for k in ("description", "metadata") if version.get(k) is not None}
    part = Message(name=request.name, data=request.data, encoding=request.encoding, extras=request.extras,
                   action=action, serial=request.serial,
                   version={**meta, **({"clientId": operator} if operator is not None else {})})
    part_size = part.size
    if part_size > max_size:
        raise too_large(part_size, max_size)

    def authorize(original: Message) -> None:
        if not can_any and original.client_id != connection_client_id:
            raise AblyError(40160, 401, f"{operation}-own permits changing only your own messages")
        if action == MessageAction.APPEND:
            size = _appended_size(original, part, part_size)
            if size > max_size:
                raise too_large(size, max_size)

    return part, authorize


def _appended_size(original: Message, part: Message, part_size: int) -> int:
    """The size of `original` after `part` is appended, without re-encoding the original's extras
    on every token: an append that carries extras (as AI Transport's always do) replaces them."""
    if part.extras is None:
        return original.size + data_size(part.data)
    name = 0 if part.name else len((original.name or "").encode())
    return part_size + data_size(original.data) + name + len((original.client_id or "").encode())
