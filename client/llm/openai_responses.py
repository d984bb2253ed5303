"""OpenAI Responses: a `stream=True` response (ResponseStreamEvent items) in, `input` items out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from .history import assistant_steps, tool_result_text, user_text
from .ui import Chunk, ToolRunner, UIWriter, drive

INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content-filter"}


def _on_event(writer: UIWriter, event: Any) -> list[Chunk]:
    kind = event.type
    if kind == "response.created":
        return writer.start()
    if kind == "response.output_item.added" and event.item.type == "function_call":
        item = event.item
        return writer.end_reasoning() + writer.end_text() + writer.tool_start(item.id or item.call_id,
                                                                              item.call_id, item.name)
    if kind in ("response.output_text.delta", "response.refusal.delta"):
        return writer.end_reasoning() + writer.text_delta(event.item_id, event.delta)
    if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        return writer.reasoning_delta(event.item_id, event.delta)
    if kind == "response.function_call_arguments.delta":
        return writer.tool_delta(event.item_id, event.delta)
    if kind == "response.function_call_arguments.done":
        return writer.tool_end(event.item_id, event.arguments)
    if kind == "response.output_item.done":
        item_type = event.item.type
        if item_type == "message":
            return writer.end_text()
        if item_type == "reasoning":
            return writer.end_reasoning()
        if item_type == "function_call":
            return writer.tool_end(event.item.id or event.item.call_id, event.item.arguments)
        return []
    if kind == "response.completed":
        writer.reason = "tool-calls" if writer.done_calls else "stop"
    elif kind == "response.incomplete":
        details = event.response.incomplete_details
        writer.reason = INCOMPLETE.get(details.reason if details else "", "other")
    elif kind == "response.failed":
        error = event.response.error
        return writer.error(error.message if error else "the response failed")
    elif kind == "error":
        return writer.error(event.message)
    return []


def responses_ui_chunks(stream: AsyncIterable[Any], *, run_tool: ToolRunner | None = None) -> AsyncIterator[Chunk]:
    """UIMessage chunks for `AgentRun.pipe` from `client.responses.create(..., stream=True)`."""
    return drive(stream, _on_event, run_tool)


def responses_input(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The session's UIMessages as Responses `input` items: messages, and per tool call a
    `function_call` item followed by its `function_call_output`."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("user", "system"):
            out.append({"type": "message", "role": role, "content": [{"type": "input_text",
                                                                      "text": user_text(message)}]})
            continue
        for text, tools in assistant_steps(message):
            if text:
                out.append({"type": "message", "role": "assistant", "content": text})
            for p in tools:
                out.append({"type": "function_call", "call_id": p["toolCallId"], "name": p["toolName"],
                            "arguments": json.dumps(p.get("input", {}))})
                out.append({"type": "function_call_output", "call_id": p["toolCallId"],
                            "output": tool_result_text(p)[0]})
    return out
