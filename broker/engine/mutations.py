"""Message mutations (update, delete, append) folded into the latest aggregate of a message.

A mutation is stored as a *part*: a Message whose `serial` names the original, whose action is
1, 2 or 5, and whose `version` carries the mutation's own serial. Parts keep only what the
request supplied (None = keep the previous value), so an append part holds just its fragment:
a long stream of small appends never rewrites the message. Reads fold the parts into the
original, in version order.
"""

from __future__ import annotations

from ..protocol.actions import MessageAction
from ..protocol.errors import AblyError
from ..protocol.message import Message
from ..protocol.serial import Position

MUTATIONS = (MessageAction.UPDATE, MessageAction.DELETE, MessageAction.APPEND)


def _empty(data: str | bytes | None) -> bool:
    return data is None or data == "" or data == b""


def check_appendable(aggregate: Message, part: Message) -> None:
    """Same data type (string or binary) and encoding, checked without building the result."""
    if _empty(part.data) or _empty(aggregate.data):
        return
    if isinstance(part.data, str) != isinstance(aggregate.data, str):
        raise AblyError(40013, 400, "An append must have the same data type (string or binary) as the message")
    if (part.encoding or None) != (aggregate.encoding or None):
        raise AblyError(40013, 400, "An append must have the same encoding as the message")


def concat(base: str | bytes | None, fragment: str | bytes | None) -> str | bytes | None:
    if _empty(fragment):
        return base if base is not None else fragment
    if _empty(base):
        return fragment
    return base + fragment  # type: ignore[operator]  # same type: check_appendable ran first


def fold(aggregate: Message, part: Message) -> Message:
    """The message after `part`: shallow mixin for update/delete, concatenation for append."""
    out = aggregate.copy(version=part.version)
    if part.name is not None:
        out.name = part.name
    if part.extras is not None:
        out.extras = part.extras
    if part.action == MessageAction.APPEND:
        out.data = concat(aggregate.data, part.data)
        if out.encoding is None:
            out.encoding = part.encoding
        if aggregate.action != MessageAction.DELETE:
            out.action = MessageAction.UPDATE
    else:
        if part.data is not None:
            out.data, out.encoding = part.data, part.encoding
        out.action = part.action
    return out


def stamp_part(part: Message, position: Position, now_ms: int) -> None:
    """Give a part its version: the new serial, the time, and the operator's metadata."""
    version = {k: v for k, v in (part.version or {}).items() if k in ("clientId", "description", "metadata")}
    version["serial"] = position.serial(0)
    version["timestamp"] = now_ms
    part.version = version


def stored_form(part: Message, current: Message) -> Message:
    """What to keep of a part: a name or extras equal to the message's current ones adds
    nothing (AI Transport repeats its headers on every append), so the fold keeps them anyway."""
    changes: dict[str, None] = {}
    if part.extras is not None and part.extras == current.extras:
        changes["extras"] = None
    if part.name is not None and part.name == current.name:
        changes["name"] = None
    return part.copy(**changes) if changes else part


def merge_appends(parts: list[Message]) -> Message:
    """One part that folds like the run of appends it replaces (storage compaction)."""
    merged = parts[0].copy()
    for part in parts[1:]:
        merged.data = concat(merged.data, part.data)
        if merged.encoding is None:
            merged.encoding = part.encoding
        if part.name is not None:
            merged.name = part.name
        if part.extras is not None:
            merged.extras = part.extras
        merged.version = part.version
    return merged


def delivery(aggregate: Message, part: Message) -> Message:
    """What live subscribers that have the message get: the whole message, or for an
    append just the fragment with the message's name, extras and original timestamp."""
    if part.action != MessageAction.APPEND:
        return aggregate
    return aggregate.copy(action=MessageAction.APPEND, data=part.data,
                          encoding=part.encoding if part.data else aggregate.encoding)



def versions_of(original: Message, parts: list[Message]) -> list[Message]:
    """The original, then the message after each update or delete; a run of appends shows as
    one version, the message after its last append."""
    out = [original]
    current = original
    for i, part in enumerate(parts):
        current = fold(current, part)
        last_of_run = i + 1 == len(parts) or part.action != MessageAction.APPEND or parts[i + 1].action != MessageAction.APPEND
        if last_of_run:
            out.append(current)
    return out
