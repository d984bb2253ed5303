"""Tool parts: their identity, state transitions, and the folds of tool chunks and client tool inputs."""

from __future__ import annotations

from typing import Any

from ..headers import parse_json
from ..outputs import strip_none
from ..types import CodecMessage, Event
from .state import (
    PendingResolution,
    ToolTracker,
    UIMessage,
    UIProjection,
    ensure_message,
    ensure_trackers,
    find_entry,
    is_tool_part,
    tool_part,
)

_MISSING = object()


def tool_base(source: dict[str, Any]) -> dict[str, Any]:
    """A new tool part's identity: `dynamic-tool` (keeps toolName) or `tool-<toolName>`."""
    if source.get("dynamic"):
        return strip_none({"type": "dynamic-tool", "toolCallId": source.get("toolCallId"),
                           "toolName": source.get("toolName"), "title": source.get("title"),
                           "providerExecuted": source.get("providerExecuted")})
    return strip_none({"type": f"tool-{source.get('toolName')}", "toolCallId": source.get("toolCallId"),
                       "title": source.get("title"), "providerExecuted": source.get("providerExecuted")})


def tool_identity(p: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "toolCallId", "toolName", "title", "providerExecuted") if p["type"] == "dynamic-tool" \
        else ("type", "toolCallId", "title", "providerExecuted")
    return strip_none({k: p.get(k) for k in keys})


def _with_input(out: dict[str, Any], value: Any) -> dict[str, Any]:
    """Set `input` unless it is absent (the JS `undefined`)."""
    if value is not _MISSING:
        out["input"] = value
    return out


def transition(p: dict[str, Any], chunk: Event) -> dict[str, Any]:
    base = tool_identity(p)
    current = p.get("input", _MISSING)
    kind = chunk["type"]
    if kind == "tool-output-available":
        out = {**base, "state": "output-available"}
        _with_input(out, current)
        if "output" in chunk:
            out["output"] = chunk["output"]
        if chunk.get("preliminary") is not None:
            out["preliminary"] = chunk["preliminary"]
        return out
    if kind == "tool-output-error":
        return {**_with_input({**base, "state": "output-error"}, current), "errorText": chunk.get("errorText")}
    if kind == "tool-output-denied":
        return {**_with_input({**base, "state": "output-denied"}, current),
                "approval": {"id": "", "approved": False}}
    return {**_with_input({**base, "state": "approval-requested"}, current),
            "approval": {"id": chunk.get("approvalId")}}


def fold_tool_input(state: UIProjection, chunk: Event, message_id: str) -> None:
    message = ensure_message(state, message_id)
    trackers = ensure_trackers(state, message_id)
    kind = chunk["type"]
    call_id = chunk.get("toolCallId", "")
    if kind == "tool-input-start":
        trackers.tools[call_id] = ToolTracker(len(message["parts"]))
        message["parts"].append({**tool_base(chunk), "state": "input-streaming"})
        return
    if kind == "tool-input-delta":
        tracker = trackers.tools.get(call_id)
        if tracker is None:
            return
        tracker.input_text += chunk.get("inputTextDelta", "")
        ok, parsed = parse_json(tracker.input_text)
        found = tool_part(message, trackers, call_id)
        if found is not None:
            message["parts"][found[0].part_index] = _with_input(
                {**tool_identity(found[1]), "state": "input-streaming"}, parsed if ok else _MISSING)
        return
    found = tool_part(message, trackers, call_id)
    if kind == "tool-input-available":
        if found is not None:
            message["parts"][found[0].part_index] = _with_input(
                {**tool_identity(found[1]), "state": "input-available"}, chunk.get("input", _MISSING))
        return
    errored: dict[str, Any] = {"state": "output-error"}
    _with_input(errored, chunk.get("input", _MISSING))
    errored["errorText"] = chunk.get("errorText")
    if found is not None:
        message["parts"][found[0].part_index] = {**tool_identity(found[1]), **errored}
    else:
        trackers.tools[call_id] = ToolTracker(len(message["parts"]))
        message["parts"].append({**tool_base(chunk), **errored})


def _owner_anywhere(state: UIProjection, tool_call_id: str) -> tuple[UIMessage, ToolTracker, dict[str, Any]] | None:
    for entry in state.messages:
        trackers = state.trackers.get(entry.codec_message_id)
        if trackers is None:
            continue
        found = tool_part(entry.message, trackers, tool_call_id)
        if found is not None:
            return entry.message, found[0], found[1]
    return None


def fold_tool_output(state: UIProjection, chunk: Event, message_id: str) -> None:
    """Outputs resolve the tool call wherever it lives (a continuation pass may use a fresh message id)."""
    call_id = chunk.get("toolCallId", "")
    if chunk["type"] in ("tool-output-available", "tool-output-error"):
        owner = _owner_anywhere(state, call_id)
        if owner is not None:
            owner[0]["parts"][owner[1].part_index] = transition(owner[2], chunk)
        return
    message = ensure_message(state, message_id)
    found = tool_part(message, ensure_trackers(state, message_id), call_id)
    if found is not None:
        message["parts"][found[0].part_index] = transition(found[1], chunk)


# --- client inputs: tool results and approval responses -----------------------------------

def _owner(state: UIProjection, codec_message_id: str, tool_call_id: str) -> tuple[UIMessage, ToolTracker,
                                                                                    dict[str, Any]] | None:
    entry = find_entry(state, codec_message_id)
    if entry is None:
        return None
    found = tool_part(entry.message, ensure_trackers(state, codec_message_id), tool_call_id)
    return (entry.message, found[0], found[1]) if found is not None else None


def _approval(p: dict[str, Any], approved: bool, reason: str | None) -> dict[str, Any]:
    if approved:
        approval: dict[str, Any] = {"id": (p.get("approval") or {}).get("id", ""), "approved": True}
        if reason is not None:
            approval["reason"] = reason
        return {**_with_input({**tool_identity(p), "state": "approval-responded"}, p.get("input", _MISSING)),
                "approval": approval}
    return transition(p, {"type": "tool-output-denied", "toolCallId": p.get("toolCallId")})


def _apply(owner: tuple[UIMessage, ToolTracker, dict[str, Any]], tool_call_id: str,
           resolution: dict[str, Any]) -> None:
    message, tracker, p = owner
    kind = resolution["kind"]
    if kind == "tool-result":
        chunk = {"type": "tool-output-available", "toolCallId": tool_call_id}
        if "output" in resolution:
            chunk["output"] = resolution["output"]
        new = transition(p, chunk)
    elif kind == "tool-result-error":
        new = transition(p, {"type": "tool-output-error", "toolCallId": tool_call_id,
                             "errorText": resolution.get("message")})
    else:
        new = _approval(p, bool(resolution.get("approved")), resolution.get("reason"))
    message["parts"][tracker.part_index] = new


def resolve_or_pend(state: UIProjection, codec_message_id: str, tool_call_id: str,
                    resolution: dict[str, Any]) -> None:
    owner = _owner(state, codec_message_id, tool_call_id)
    if owner is not None:
        _apply(owner, tool_call_id, resolution)
    else:
        state.pending.append(PendingResolution(codec_message_id, tool_call_id, resolution))


def retry_pending(state: UIProjection) -> None:
    remaining = []
    for pending in state.pending:
        owner = _owner(state, pending.target, pending.tool_call_id)
        if owner is None:
            remaining.append(pending)
        else:
            _apply(owner, pending.tool_call_id, pending.resolution)
    state.pending = remaining


def seed_fork(state: UIProjection, target: str, seed: dict[str, Any] | None) -> None:
    """Rebuild a tool-result fork's seeded messages once, unless the target already exists."""
    if seed is None or find_entry(state, target) is not None:
        return
    for item in seed.get("messages", []):
        cmid = item["codecMessageId"]
        if find_entry(state, cmid) is not None:
            continue
        parts = list(item["message"].get("parts", []))
        state.messages.append(CodecMessage(cmid, {**item["message"], "parts": parts}))
        trackers = ensure_trackers(state, cmid)
        for index, p in enumerate(parts):
            if is_tool_part(p):
                trackers.tools[p["toolCallId"]] = ToolTracker(index)
