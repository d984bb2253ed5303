"""The UIMessage chunks one model call makes: a step with text, reasoning and tool-call parts, opened
and closed in the order Vercel's AI SDK emits them, then the tools' outputs and `finish`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Chunk = dict[str, Any]


class ModelStreamError(Exception):
    """The model's stream reported an error (a Responses `error` or `response.failed` event)."""
ToolRunner = Callable[[str, Any], Awaitable[Any]]
"""Runs one tool call, (toolName, input) -> output; raising makes a `tool-output-error`."""


def parse_input(text: str) -> Any:
    """A tool call's argument text as JSON, else as the raw text (a model may stream bad JSON)."""
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class _Call:
    call_id: str
    name: str
    text: str = ""


@dataclass
class UIWriter:
    """Tracks which text, reasoning and tool-input streams are open, so an adapter only says what the
    SDK said; `finish()` closes whatever is still open."""

    started: bool = False
    reason: str = "stop"
    failed: str | None = None
    text: str | None = None
    reasoning: str | None = None
    calls: dict[str, _Call] = field(default_factory=dict)
    done_calls: list[_Call] = field(default_factory=list)

    def start(self) -> list[Chunk]:
        if self.started:
            return []
        self.started = True
        return [{"type": "start"}, {"type": "start-step"}]

    def text_delta(self, part_id: str, delta: str) -> list[Chunk]:
        return self._delta("text", part_id, delta)

    def end_text(self) -> list[Chunk]:
        return self._end("text")

    def reasoning_delta(self, part_id: str, delta: str) -> list[Chunk]:
        return self._delta("reasoning", part_id, delta)

    def end_reasoning(self) -> list[Chunk]:
        return self._end("reasoning")

    def _delta(self, kind: Literal["text", "reasoning"], part_id: str, delta: str) -> list[Chunk]:
        """A delta of the open `kind` part, opening it (and closing another of that kind) first."""
        if not delta:
            return []
        out = self.start()
        if getattr(self, kind) != part_id:
            out += self._end(kind)
            out.append({"type": f"{kind}-start", "id": part_id})
            setattr(self, kind, part_id)
        out.append({"type": f"{kind}-delta", "id": part_id, "delta": delta})
        return out

    def _end(self, kind: Literal["text", "reasoning"]) -> list[Chunk]:
        part_id = getattr(self, kind)
        if part_id is None:
            return []
        setattr(self, kind, None)
        return [{"type": f"{kind}-end", "id": part_id}]

    def tool_start(self, key: str, call_id: str, name: str) -> list[Chunk]:
        """`key` is how the SDK names the call in its deltas (an index or an item id)."""
        out = self.start()
        self.calls[key] = _Call(call_id, name)
        return [*out, {"type": "tool-input-start", "toolCallId": call_id, "toolName": name}]

    def tool_delta(self, key: str, delta: str) -> list[Chunk]:
        call = self.calls.get(key)
        if call is None or not delta:
            return []
        call.text += delta
        return [{"type": "tool-input-delta", "toolCallId": call.call_id, "inputTextDelta": delta}]

    def tool_end(self, key: str, final_text: str | None = None) -> list[Chunk]:
        call = self.calls.pop(key, None)
        if call is None:
            return []
        if final_text is not None:
            call.text = final_text
        self.done_calls.append(call)
        return [{"type": "tool-input-available", "toolCallId": call.call_id, "toolName": call.name,
                 "input": parse_input(call.text)}]

    def close_open(self) -> list[Chunk]:
        out = self.end_reasoning() + self.end_text()
        for key in list(self.calls):
            out += self.tool_end(key)
        return out

    def error(self, text: str) -> list[Chunk]:
        self.failed = text
        return [*self.start(), *self.close_open(), {"type": "error", "errorText": text}]

    async def tool_outputs(self, run_tool: ToolRunner | None) -> AsyncIterator[Chunk]:
        """Each finished call's output (or error) once the step is over, in call order."""
        if run_tool is None:
            return
        for call in self.done_calls:
            try:
                output = await run_tool(call.name, parse_input(call.text))
            except Exception as exc:  # noqa: BLE001 - a failing tool is the model's to hear about
                yield {"type": "tool-output-error", "toolCallId": call.call_id, "errorText": str(exc)}
            else:
                yield {"type": "tool-output-available", "toolCallId": call.call_id, "output": output}

    def finish(self, reason: str) -> list[Chunk]:
        return [*self.start(), *self.close_open(), {"type": "finish-step"},
                {"type": "finish", "finishReason": reason}]


async def drive(events: AsyncIterable[Any], on_event: Callable[[UIWriter, Any], list[Chunk]],
                run_tool: ToolRunner | None) -> AsyncIterator[Chunk]:
    """Feed the SDK's events through `on_event` (which sets `writer.reason`). A stream that raises
    (an APIError, a dropped connection) or reports an error yields an `error` chunk, then raises, so
    `AgentRun.pipe` ends with reason "error" and the run ends as failed for every device."""
    writer = UIWriter()
    try:
        async for item in events:
            for chunk in on_event(writer, item):
                yield chunk
            if writer.failed is not None:
                raise ModelStreamError(writer.failed)
    except ModelStreamError:
        raise
    except Exception as exc:
        for chunk in writer.error(f"{type(exc).__name__}: {exc}"):
            yield chunk
        raise
    closing = writer.close_open()
    for chunk in closing:
        yield chunk
    async for chunk in writer.tool_outputs(run_tool):
        yield chunk
    for chunk in writer.finish(writer.reason):
        yield chunk
