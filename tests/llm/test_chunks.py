"""The adapters' chunks for the cases the end-to-end tests don't stream: a stream that fails midway,
an error event, why a reply stopped, a tool that fails, and a failed tool call read back."""

from __future__ import annotations

from typing import Any

import anthropic.types as a
import httpx2
import openai
import pytest
from pydantic import TypeAdapter
from openai.types.chat.chat_completion_chunk import ChoiceDelta
from openai.types.responses import ResponseErrorEvent, ResponseIncompleteEvent
from openai.types.responses.response import IncompleteDetails

from client.llm import (
    ModelStreamError,
    anthropic_messages,
    anthropic_ui_chunks,
    chat_messages,
    chat_ui_chunks,
    responses_input,
    responses_ui_chunks,
)
from tests.llm.streams import _chunk, _response, _start, _stop, anthropic_tool_call, chat_tool_call, replay


async def collect(chunks: Any) -> list[dict[str, Any]]:
    return [c async for c in chunks]


async def dropped(events: list[Any], error: Exception) -> Any:
    async for event in replay(events):
        yield event
    raise error


async def test_a_stream_that_fails_midway_yields_an_error_chunk_then_raises() -> None:
    error = openai.APIConnectionError(request=httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions"))
    out: list[dict[str, Any]] = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in chat_ui_chunks(dropped([_chunk(ChoiceDelta(content="Hel"))], error)):
            out.append(chunk)
    assert out == [{"type": "start"}, {"type": "start-step"}, {"type": "text-start", "id": "text-0"},
                   {"type": "text-delta", "id": "text-0", "delta": "Hel"}, {"type": "text-end", "id": "text-0"},
                   {"type": "error", "errorText": "APIConnectionError: Connection error."}]


async def test_a_responses_error_event_ends_the_reply() -> None:
    events = [ResponseErrorEvent(type="error", code="server_error", message="overloaded", param=None,
                                 sequence_number=0)]
    out: list[dict[str, Any]] = []
    with pytest.raises(ModelStreamError, match="overloaded"):
        async for chunk in responses_ui_chunks(replay(events)):
            out.append(chunk)
    assert out[-1] == {"type": "error", "errorText": "overloaded"}


@pytest.mark.parametrize(("adapter", "events"), [
    (chat_ui_chunks, [_chunk(ChoiceDelta(content="a")), _chunk(ChoiceDelta(), "length")]),
    (anthropic_ui_chunks, [_start(), *_stop("max_tokens")]),
    (responses_ui_chunks, [ResponseIncompleteEvent(
        type="response.incomplete", sequence_number=0, response=_response("incomplete", []).model_copy(
            update={"incomplete_details": IncompleteDetails(reason="max_output_tokens")}))]),
])
async def test_a_reply_cut_at_the_token_limit_finishes_with_length(adapter: Any, events: list[Any]) -> None:
    out = await collect(adapter(replay(events)))
    assert out[0] == {"type": "start"} and out[-2:] == [{"type": "finish-step"},
                                                        {"type": "finish", "finishReason": "length"}]


@pytest.mark.parametrize(("adapter", "events"), [(chat_ui_chunks, chat_tool_call()),
                                                 (anthropic_ui_chunks, anthropic_tool_call())])
async def test_a_failing_tool_gives_a_tool_output_error(adapter: Any, events: list[Any]) -> None:
    async def broken(name: str, args: Any) -> Any:
        raise RuntimeError("weather service down")

    out = await collect(adapter(replay(events), run_tool=broken))
    assert {"type": "tool-output-error", "toolCallId": "call_1", "errorText": "weather service down"} in out
    assert out[-1] == {"type": "finish", "finishReason": "tool-calls"}


FAILED_CALL = [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "weather?"}]},
               {"id": "r", "role": "assistant", "parts": [
                   {"type": "step-start"}, {"type": "reasoning", "text": "hidden"},
                   {"type": "dynamic-tool", "toolName": "get_weather", "toolCallId": "c1", "state": "output-error",
                    "input": {"city": "Paris"}, "errorText": "down"},
                   {"type": "tool-unanswered", "toolCallId": "c2", "state": "input-available", "input": {}}]}]


def test_a_failed_tool_call_reads_back_as_an_error_result_and_reasoning_stays_out() -> None:
    assert anthropic_messages(FAILED_CALL)[-1] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "c1", "content": "down", "is_error": True}]}
    chat = chat_messages(FAILED_CALL, system="be brief")
    assert chat[0] == {"role": "system", "content": "be brief"}
    assert chat[2]["content"] is None and [c["id"] for c in chat[2]["tool_calls"]] == ["c1"]
    assert chat[3] == {"role": "tool", "tool_call_id": "c1", "content": "down"}
    assert [i["type"] for i in responses_input(FAILED_CALL)] == ["message", "function_call", "function_call_output"]
    assert "hidden" not in repr(anthropic_messages(FAILED_CALL)) + repr(chat)
    TypeAdapter(list[a.MessageParam]).validate_python(anthropic_messages(FAILED_CALL))
