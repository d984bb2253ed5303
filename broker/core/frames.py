"""Outbound MESSAGE ProtocolMessages, encoded once per wire format and channel string."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..engine.base import Publication
from ..protocol.actions import Action
from ..protocol.message import Message
from ..protocol.wire import Format, encode

# Turns an encoded ProtocolMessage into the bytes written to a socket (a WebSocket frame).
Framer = Callable[[bytes, Format], bytes]

BACKLOG_CHUNK = 100  # messages per catch-up frame at most
BACKLOG_BYTES = 64 * 1024  # payload bytes per catch-up frame, past which it ends at the next publication


def position_of(serial: str) -> str:
    return serial.rpartition(":")[0]


def latest_serial(message: Message) -> str:
    """Where a message last moved in the stream: its newest version, else its creation."""
    version = message.version.get("serial") if message.version else None
    return version if isinstance(version, str) and version > (message.serial or "") else message.serial or ""


def message_frame(channel: str, channel_serial: str, messages: Iterable[Message], fmt: Format, now_ms: int) -> dict[str, Any]:
    return {
        "action": Action.MESSAGE,
        "channel": channel,
        "channelSerial": channel_serial,
        "timestamp": now_ms,
        "messages": [m.to_wire(fmt) for m in messages],
    }


def publication_frame(channel: str, pubs: Sequence[Publication], fmt: Format, now_ms: int,
                      skip_connection: str | None = None,
                      whole: frozenset[tuple[int, int]] = frozenset()) -> dict[str, Any] | None:
    """One MESSAGE for consecutive publications; None when echo suppression leaves nothing.

    `whole` names (publication, message) indices to deliver as the whole aggregate instead of
    an append fragment: the subscriber has not seen that message since it attached.
    """
    messages = [pub.aggregates[j] if (i, j) in whole and pub.aggregates else m
                for i, pub in enumerate(pubs) for j, m in enumerate(pub.messages)
                if skip_connection is None or m.connection_id != skip_connection]
    if not messages:
        return None
    frame = message_frame(channel, str(pubs[-1].position), messages, fmt, now_ms)
    if len(pubs) == 1 and messages[0].connection_id is not None:
        frame["connectionId"] = messages[0].connection_id
    return frame


def backlog_frames(channel: str, messages: Sequence[Message], fmt: Format, now_ms: int) -> list[bytes]:
    """Encoded MESSAGE frames for a replay, split only between publications so cursors stay exact.

    A frame's channelSerial is the furthest position its messages reached (a message shown
    with a later version moved the stream on), never less than an earlier frame's. Frames stay
    small (BACKLOG_CHUNK messages, about BACKLOG_BYTES) so the replay can follow the socket.
    """
    out: list[bytes] = []
    chunk: list[Message] = []
    size = 0
    cursor = ""
    for i, message in enumerate(messages):
        chunk.append(message)
        size += message.size
        position = position_of(latest_serial(message))
        cursor = max(cursor, position)
        last_of_position = i + 1 == len(messages) or position_of(latest_serial(messages[i + 1])) != position
        if last_of_position and (len(chunk) >= BACKLOG_CHUNK or size >= BACKLOG_BYTES) or i + 1 == len(messages):
            out.append(encode(message_frame(channel, cursor, chunk, fmt, now_ms), fmt))
            chunk, size = [], 0
    return out
