"""The UIMessage reducer: fold decoded inputs and chunks into a node's UIMessage list."""

from __future__ import annotations

from typing import Any

from ..outputs import strip_none
from ..types import CodecEvent, CodecMessage, Event, ReducerMeta
from .state import UIMessage, UIProjection, ensure_message, ensure_trackers, find_entry
from .tools import (
    fold_tool_input,
    fold_tool_output,
    resolve_or_pend,
    retry_pending,
    seed_fork,
)

_LIFECYCLE = frozenset({"start", "start-step", "finish-step", "finish", "abort", "error", "message-metadata"})
_TEXT = {f"{part}-{phase}": (part, phase) for part in ("text", "reasoning") for phase in ("start", "delta", "end")}
_TOOL_INPUT = frozenset({"tool-input-start", "tool-input-delta", "tool-input-available", "tool-input-error"})
_TOOL_OUTPUT = frozenset({"tool-output-available", "tool-output-error", "tool-output-denied",
                          "tool-approval-request"})
_CONTENT = frozenset({"file", "source-url", "source-document"})


def init() -> UIProjection:
    return UIProjection()


def get_messages(projection: UIProjection) -> list[CodecMessage[UIMessage]]:
    return projection.messages


def fold(state: UIProjection, event: CodecEvent, meta: ReducerMeta) -> UIProjection:
    if event.direction == "input":
        _fold_input(state, event.event, meta)
    else:
        _fold_chunk(state, event.event, meta)
    if state.pending:
        retry_pending(state)
    return state


def _fold_input(state: UIProjection, item: Event, meta: ReducerMeta) -> None:
    kind = item.get("kind")
    if kind == "user-message":
        # a copy: the decoded event stays in the node's log and may be replayed by a refold
        message = {**item["message"], "parts": list(item["message"].get("parts", []))}
        if meta.message_id is None:
            state.messages.append(CodecMessage(message.get("id", ""), message))
            return
        existing = find_entry(state, meta.message_id)
        if existing is None:
            state.messages.append(CodecMessage(meta.message_id, message))
        else:
            existing.message["parts"].extend(message.get("parts", []))
        return
    payload: dict[str, Any] = item.get("payload") or {}
    target = item.get("codecMessageId", "")
    call_id = payload.get("toolCallId", "")
    if kind == "tool-result":
        seed_fork(state, target, payload.get("forkSeed"))
        resolution: dict[str, Any] = {"kind": "tool-result"}
        if "output" in payload:
            resolution["output"] = payload["output"]
        resolve_or_pend(state, target, call_id, resolution)
    elif kind == "tool-result-error":
        seed_fork(state, target, payload.get("forkSeed"))
        resolve_or_pend(state, target, call_id, {"kind": "tool-result-error", "message": payload.get("message")})
    elif kind == "tool-approval-response":
        resolve_or_pend(state, target, call_id, strip_none({"kind": "tool-approval-response",
                                                            "approved": payload.get("approved"),
                                                            "reason": payload.get("reason")}))


def _fold_chunk(state: UIProjection, chunk: Event, meta: ReducerMeta) -> None:
    message_id = meta.message_id
    if message_id is None:
        return  # nowhere to land
    kind = chunk.get("type", "")
    if kind in _LIFECYCLE:
        _fold_lifecycle(state, chunk, message_id)
    elif kind in _TEXT:
        _fold_text(state, chunk, message_id)
    elif kind in _TOOL_INPUT:
        fold_tool_input(state, chunk, message_id)
    elif kind in _TOOL_OUTPUT:
        fold_tool_output(state, chunk, message_id)
    elif kind in _CONTENT:
        _fold_content(state, chunk, message_id)
    elif kind.startswith("data-"):
        _fold_data(state, chunk, message_id)


def _fold_lifecycle(state: UIProjection, chunk: Event, message_id: str) -> None:
    kind = chunk["type"]
    if kind == "start":
        message = ensure_message(state, message_id)
        if chunk.get("messageId") is not None:
            message["id"] = chunk["messageId"]
        if chunk.get("messageMetadata") is not None:
            message["metadata"] = chunk["messageMetadata"]
    elif kind == "start-step":
        # A start-step inside an open step is the pre-roll synthesised for a mid-stream joiner that
        # history later completed with the real one: skip it (the JS reducer renders a second step-start).
        message = ensure_message(state, message_id)
        trackers = ensure_trackers(state, message_id)
        if not trackers.step_open:
            trackers.step_open = True
            message["parts"].append({"type": "step-start"})
    elif kind == "finish-step":
        open_step = state.trackers.get(message_id)
        if open_step is not None:
            open_step.text.clear()
            open_step.reasoning.clear()
            open_step.step_open = False
    elif kind in ("finish", "message-metadata") and chunk.get("messageMetadata") is not None:
        entry = find_entry(state, message_id)
        if entry is not None:
            entry.message["metadata"] = chunk["messageMetadata"]


def _fold_text(state: UIProjection, chunk: Event, message_id: str) -> None:
    message = ensure_message(state, message_id)
    trackers = ensure_trackers(state, message_id)
    part_type, phase = _TEXT[chunk["type"]]
    active = trackers.text if part_type == "text" else trackers.reasoning
    stream_id = chunk.get("id", "")
    if phase == "delta":
        index = active.get(stream_id)
        if index is not None and message["parts"][index].get("type") == part_type:
            message["parts"][index]["text"] += chunk.get("delta", "")
    elif phase == "start":
        active[stream_id] = len(message["parts"])
        message["parts"].append({"type": part_type, "text": ""})
    else:
        active.pop(stream_id, None)


def _fold_content(state: UIProjection, chunk: Event, message_id: str) -> None:
    message = ensure_message(state, message_id)
    kind = chunk["type"]
    if kind == "file":
        message["parts"].append({"type": "file", "mediaType": chunk.get("mediaType"), "url": chunk.get("url")})
    elif kind == "source-url":
        message["parts"].append(strip_none({"type": "source-url", "sourceId": chunk.get("sourceId"),
                                            "url": chunk.get("url"), "title": chunk.get("title")}))
    else:
        message["parts"].append(strip_none({"type": "source-document", "sourceId": chunk.get("sourceId"),
                                            "mediaType": chunk.get("mediaType"), "title": chunk.get("title"),
                                            "filename": chunk.get("filename")}))


def _fold_data(state: UIProjection, chunk: Event, message_id: str) -> None:
    if chunk.get("transient"):
        return
    message = ensure_message(state, message_id)
    data_part: dict[str, Any] = {"type": chunk["type"]}
    if chunk.get("id") is not None:
        data_part["id"] = chunk["id"]
    if "data" in chunk:
        data_part["data"] = chunk["data"]
    if chunk.get("id") is not None:
        for index, existing in enumerate(message["parts"]):
            if existing.get("type") == chunk["type"] and existing.get("id") == chunk["id"]:
                message["parts"][index] = data_part
                return
    message["parts"].append(data_part)
