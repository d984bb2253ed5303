"""Anthropic Messages: a `stream=True` response (RawMessageStreamEvent items) in, `messages` out."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from .history import assistant_steps, tool_result_text, user_text
from .ui import Chunk, ToolRunner, UIWriter, drive

STOP = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
        "tool_use": "tool-calls", "refusal": "content-filter"}


def _on_event(writer: UIWriter, event: Any) -> list[Chunk]:
    kind = event.type
    if kind == "message_start":
        return writer.start()
    if kind == "content_block_start":
        block = event.content_block
        if block.type == "tool_use":
            return writer.end_reasoning() + writer.end_text() + writer.tool_start(str(event.index), block.id,
                                                                                   block.name)
        if block.type == "text" and block.text:
            return writer.end_reasoning() + writer.text_delta(f"text-{event.index}", block.text)
        return []
    if kind == "content_block_delta":
        delta = event.delta
        if delta.type == "text_delta":
            return writer.end_reasoning() + writer.text_delta(f"text-{event.index}", delta.text)
        if delta.type == "thinking_delta":
            return writer.reasoning_delta(f"reasoning-{event.index}", delta.thinking)
        if delta.type == "input_json_delta":
            return writer.tool_delta(str(event.index), delta.partial_json)
        return []
    if kind == "content_block_stop":
        key = str(event.index)
        if key in writer.calls:
            return writer.tool_end(key)
        if writer.text == f"text-{event.index}":
            return writer.end_text()
        if writer.reasoning == f"reasoning-{event.index}":
            return writer.end_reasoning()
        return []
    if kind == "message_delta" and event.delta.stop_reason:
        writer.reason = STOP.get(event.delta.stop_reason, "other")
    return []


def anthropic_ui_chunks(stream: AsyncIterable[Any], *, run_tool: ToolRunner | None = None) -> AsyncIterator[Chunk]:
    """UIMessage chunks for `AgentRun.pipe` from `client.messages.create(..., stream=True)`."""
    return drive(stream, _on_event, run_tool)


def anthropic_system(messages: list[dict[str, Any]]) -> str | None:
    """The conversation's system messages joined, for the `system` parameter (None when there are none)."""
    texts = [user_text(m) for m in messages if m.get("role") == "system"]
    return "\n\n".join(texts) if texts else None


def _append(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Anthropic wants the roles to alternate: a turn of the same role as the last one joins it."""
    if not blocks:
        return
    if out and out[-1]["role"] == role:
        out[-1]["content"] += blocks
    else:
        out.append({"role": role, "content": blocks})


def anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The session's UIMessages (less system ones: see `anthropic_system`) as Messages `messages`:
    `tool_use` blocks in the assistant turn, answered by `tool_result` blocks in the next user turn."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "user":
            text = user_text(message)
            _append(out, "user", [{"type": "text", "text": text}] if text else [])
        elif role == "assistant":
            for text, tools in assistant_steps(message):
                blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
                blocks += [{"type": "tool_use", "id": p["toolCallId"], "name": p["toolName"],
                            "input": p.get("input", {})} for p in tools]
                _append(out, "assistant", blocks)
                results = []
                for p in tools:
                    content, is_error = tool_result_text(p)
                    results.append({"type": "tool_result", "tool_use_id": p["toolCallId"], "content": content,
                                    "is_error": is_error})
                _append(out, "user", results)
    return out
