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

BACKLOG_CHUNK = 100


def position_of(serial: str) -> str:
    return serial.rpartition(":")[0]


def message_frame(channel: str, channel_serial: str, messages: Iterable[Message], fmt: Format, now_ms: int) -> dict[str, Any]:
    return {
        "action": Action.MESSAGE,
        "channel": channel,
        "channelSerial": channel_serial,
        "timestamp": now_ms,
        "messages": [m.to_wire(fmt) for m in messages],
    }


def publication_frame(channel: str, pubs: Sequence[Publication], fmt: Format, now_ms: int,
                      skip_connection: str | None = None) -> dict[str, Any] | None:
    """One MESSAGE for consecutive publications; None when echo suppression leaves nothing."""
    messages = [m for pub in pubs for m in pub.messages
                if skip_connection is None or m.connection_id != skip_connection]
    if not messages:
        return None
    frame = message_frame(channel, str(pubs[-1].position), messages, fmt, now_ms)
    if len(pubs) == 1 and messages[0].connection_id is not None:
        frame["connectionId"] = messages[0].connection_id
    return frame


def backlog_frames(channel: str, messages: Sequence[Message], fmt: Format, now_ms: int) -> list[bytes]:
    """Encoded MESSAGE frames for a replay, split only between publications so cursors stay exact."""
    out: list[bytes] = []
    chunk: list[Message] = []
    for i, message in enumerate(messages):
        chunk.append(message)
        assert message.serial is not None
        position = position_of(message.serial)
        last_of_position = i + 1 == len(messages) or position_of(messages[i + 1].serial or "") != position
        if last_of_position and len(chunk) >= BACKLOG_CHUNK or i + 1 == len(messages):
            out.append(encode(message_frame(channel, position, chunk, fmt, now_ms), fmt))
            chunk = []
    return out
