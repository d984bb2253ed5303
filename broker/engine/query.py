"""History query evaluation over an in-memory, position-ordered run of messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..protocol.message import Message
from ..protocol.serial import COUNTER_LIMIT
from .base import HistoryQuery


def matches(seq: int, index: int, query: HistoryQuery) -> bool:
    if query.after is not None and seq <= query.after:
        return False
    if query.until is not None and seq > query.until:
        return False
    if query.start is not None and seq < query.start * COUNTER_LIMIT:
        return False
    if query.end is not None and seq >= (query.end + 1) * COUNTER_LIMIT:
        return False
    if query.cursor is not None:
        if query.direction == "backwards" and (seq, index) >= query.cursor:
            return False
        if query.direction == "forwards" and (seq, index) <= query.cursor:
            return False
    return True


def select(items: Sequence[tuple[int, int, Message]], query: HistoryQuery) -> list[Message]:
    if query.limit <= 0:
        return []
    ordered: Iterable[tuple[int, int, Message]] = reversed(items) if query.direction == "backwards" else items
    out: list[Message] = []
    for seq, index, message in ordered:
        if matches(seq, index, query):
            out.append(message)
            if len(out) >= query.limit:
                break
    return out
