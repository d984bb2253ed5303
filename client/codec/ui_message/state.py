"""The UIMessage projection: the node's messages plus the trackers that route chunks to their parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..types import CodecMessage

UIMessage = dict[str, Any]
"""A Vercel AI SDK UIMessage: {"id", "role", "parts": [...], "metadata"?}."""


@dataclass(slots=True)
class ToolTracker:
    part_index: int
    input_text: str = ""


@dataclass(slots=True)
class MessageTrackers:
    text: dict[str, int] = field(default_factory=dict)
    reasoning: dict[str, int] = field(default_factory=dict)
    tools: dict[str, ToolTracker] = field(default_factory=dict)
    step_open: bool = False  # a start-step without its finish-step yet


@dataclass(slots=True)
class PendingResolution:
    """A client tool result/approval whose tool call has not been folded yet."""

    target: str
    tool_call_id: str
    resolution: dict[str, Any]


@dataclass(slots=True)
class UIProjection:
    messages: list[CodecMessage[UIMessage]] = field(default_factory=list)
    trackers: dict[str, MessageTrackers] = field(default_factory=dict)
    pending: list[PendingResolution] = field(default_factory=list)


def find_entry(state: UIProjection, codec_message_id: str) -> CodecMessage[UIMessage] | None:
    for entry in state.messages:  # a loop, not next(genexpr): this runs for every streamed token
        if entry.codec_message_id == codec_message_id:
            return entry
    return None


def ensure_message(state: UIProjection, codec_message_id: str) -> UIMessage:
    """The message for this codec-message-id, created as an empty assistant message on first use."""
    entry = find_entry(state, codec_message_id)
    if entry is None:
        entry = CodecMessage(codec_message_id, {"id": codec_message_id, "role": "assistant", "parts": []})
        state.messages.append(entry)
    return entry.message


def ensure_trackers(state: UIProjection, codec_message_id: str) -> MessageTrackers:
    trackers = state.trackers.get(codec_message_id)
    if trackers is None:
        trackers = state.trackers[codec_message_id] = MessageTrackers()
    return trackers


def is_tool_part(p: dict[str, Any]) -> bool:
    kind = p.get("type", "")
    return (kind == "dynamic-tool" or kind.startswith("tool-")) and "toolCallId" in p and "state" in p


def tool_part(message: UIMessage, trackers: MessageTrackers, tool_call_id: str) -> tuple[ToolTracker,
                                                                                         dict[str, Any]] | None:
    tracker = trackers.tools.get(tool_call_id)
    if tracker is None:
        return None
    parts = message["parts"]
    p = parts[tracker.part_index] if tracker.part_index < len(parts) else None
    if p is None or not is_tool_part(p):
        return None
    return tracker, p
