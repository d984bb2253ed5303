"""What callers pass to publish and the mutation calls, checked and shaped into Messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .encoding import message_size
from .errors import AblyError
from .types import Data, Message, MessageAction, MessageOperation, UpdateDeleteResult


def to_messages(name_or_messages: str | Message | Sequence[Message] | None, data: Data = None,
                extras: dict[str, Any] | None = None) -> list[Message]:
    """`publish("name", data)`, `publish(Message(...))` or `publish([Message, ...])`."""
    if isinstance(name_or_messages, Message):
        messages = [name_or_messages]
    elif name_or_messages is None or isinstance(name_or_messages, str):
        messages = [Message(name=name_or_messages, data=data, extras=extras)]
    else:
        messages = list(name_or_messages)
        if not all(isinstance(m, Message) for m in messages):
            raise AblyError(40013, 400, "publish() takes a name and data, a Message, or a list of Messages")
    if (data is not None or extras is not None) and not (name_or_messages is None
                                                         or isinstance(name_or_messages, str)):
        raise AblyError(40013, 400, "data and extras go inside the Message when publishing Message objects")
    if not messages:
        raise AblyError(40013, 400, "Nothing to publish")
    return messages


def check_size(messages: Sequence[Message], limit: int) -> int:
    """Ably limits the sum over one publish; refuse before sending (40009, like the SDKs). Returns the size."""
    size = sum(message_size(m.name, m.client_id, m.extras, m.data) for m in messages)
    if size > limit:
        raise AblyError(40009, 400, f"Maximum message size exceeded (size {size} > limit {limit})")
    return size


def mutation(message: Message, action: MessageAction) -> Message:
    """The message an update/delete/append sends: the caller's fields, the action, the target serial.

    Server-stamped fields (id, timestamp, connectionId, version, annotations) are not sent.
    """
    if not message.serial:
        raise AblyError(40003, 400, "The message to update, delete or append to needs its serial")
    return replace(message, action=action, id=None, timestamp=None, connection_id=None, version=None,
                   annotations=None)


class MessageMutations:
    """update/delete/append, the same on REST and realtime channels; each sends via `_mutate`."""

    async def _mutate(self, message: Message, action: MessageAction, operation: MessageOperation | None,
                      params: dict[str, str] | None) -> UpdateDeleteResult:
        raise NotImplementedError

    async def update_message(self, message: Message, operation: MessageOperation | None = None, *,
                             params: dict[str, str] | None = None) -> UpdateDeleteResult:
        """New version of `message.serial` with the name, data and extras given (others are kept)."""
        return await self._mutate(message, MessageAction.UPDATE, operation, params)

    async def delete_message(self, message: Message, operation: MessageOperation | None = None, *,
                             params: dict[str, str] | None = None) -> UpdateDeleteResult:
        return await self._mutate(message, MessageAction.DELETE, operation, params)

    async def append_message(self, message: Message, operation: MessageOperation | None = None, *,
                             params: dict[str, str] | None = None) -> UpdateDeleteResult:
        """Append `message.data` to `message.serial`; pass `extras` too or they are replaced."""
        return await self._mutate(message, MessageAction.APPEND, operation, params)
