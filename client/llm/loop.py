"""An agent turn of several model calls: call the model, run the tools it asked for, call it again with
their outputs, until a call asks for none. The reply is one UIMessage with a step per call."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

from ..codec.types import CodecEvent, ReducerMeta
from ..codec.ui_message import reducer
from .ui import Chunk, ToolRunner

Adapter = Callable[..., AsyncIterator[Chunk]]
"""One of `chat_ui_chunks`, `responses_ui_chunks`, `anthropic_ui_chunks`."""
CallModel = Callable[[list[dict[str, Any]]], Awaitable[AsyncIterable[Any]]]
"""Starts one streaming SDK call for the conversation so far (UIMessages, this reply last)."""


async def tool_loop(call: CallModel, adapter: Adapter, messages: list[dict[str, Any]], *,
                    run_tool: ToolRunner | None = None, max_steps: int = 8) -> AsyncIterator[Chunk]:
    """UIMessage chunks for `AgentRun.pipe`; the reply so far is folded locally (with the codec's own
    reducer) so each call sees the tool outputs of the one before."""
    state = reducer.init()
    finish: Chunk = {"type": "finish", "finishReason": "other"}
    for step in range(max_steps):
        reply = [m.message for m in reducer.get_messages(state)]
        outputs = 0
        async for chunk in adapter(await call([*messages, *reply]), run_tool=run_tool):
            kind = chunk["type"]
            if kind == "finish":
                finish = chunk
                continue
            if kind == "start" and step:
                continue
            outputs += kind in ("tool-output-available", "tool-output-error")
            reducer.fold(state, CodecEvent("output", chunk), ReducerMeta("", "reply"))
            yield chunk
        if not outputs or finish.get("finishReason") != "tool-calls":
            break
    yield finish
