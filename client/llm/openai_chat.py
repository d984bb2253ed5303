"""OpenAI Chat Completions: a `stream=True` response (ChatCompletionChunk items) in, chat messages out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from .history import assistant_steps, tool_result_text, user_text
from .ui import Chunk, ToolRunner, UIWriter, drive

FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool-calls", "function_call": "tool-calls",
          "content_filter": "content-filter"}


def _on_chunk(writer: UIWriter, chunk: Any) -> list[Chunk]:
    out: list[Chunk] = []
    for choice in chunk.choices or []:
        if choice.index != 0:
            continue
        delta = choice.delta
        # OpenAI-compatible servers (vLLM, DeepSeek, OpenRouter) stream reasoning as an extra field
        reasoning = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
        if isinstance(reasoning, str):
            out += writer.reasoning_delta("reasoning-0", reasoning)
        if delta.content:
            out += writer.end_reasoning() + writer.text_delta("text-0", delta.content)
        for call in delta.tool_calls or []:
            key = str(call.index)
            function = call.function
            if key not in writer.calls and call.id:
                out += writer.end_reasoning() + writer.end_text()
                out += writer.tool_start(key, call.id, (function.name if function else None) or "")
            if function is not None and function.arguments:
                out += writer.tool_delta(key, function.arguments)
        if choice.finish_reason:
            writer.reason = FINISH.get(choice.finish_reason, "other")
    return out


def chat_ui_chunks(stream: AsyncIterable[Any], *, run_tool: ToolRunner | None = None) -> AsyncIterator[Chunk]:
    """UIMessage chunks for `AgentRun.pipe` from `client.chat.completions.create(..., stream=True)`;
    with `run_tool`, each tool call the model made is run and its output written into the same reply."""
    return drive(stream, _on_chunk, run_tool)


def chat_messages(messages: list[dict[str, Any]], system: str | None = None) -> list[dict[str, Any]]:
    """The session's UIMessages as Chat Completions `messages`: an assistant message per step with
    its `tool_calls`, each answered by a `tool` message carrying the call's output."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        role = message.get("role")
        if role in ("user", "system"):
            out.append({"role": role, "content": user_text(message)})
            continue
        for text, tools in assistant_steps(message):
            turn: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tools:
                turn["tool_calls"] = [{"id": p["toolCallId"], "type": "function", "function": {
                    "name": p["toolName"], "arguments": json.dumps(p.get("input", {}))}} for p in tools]
            out.append(turn)
            out += [{"role": "tool", "tool_call_id": p["toolCallId"], "content": tool_result_text(p)[0]}
                    for p in tools]
    return out
