"""Model streams made of the SDKs' own typed events, built locally (no network): each script is a
reasoning step, text, and a `get_weather` tool call whose arguments arrive in pieces; the next
call answers from the tool's output."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import anthropic.types as a
from openai.types.chat.chat_completion_chunk import (
    ChatCompletionChunk,
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextDeltaEvent,
)

THINKING = ["Let me ", "think."]
LEAD = ["Checking ", "the weather."]
ARGS = ['{"ci', 'ty": "Pa', 'ris"}']
ANSWER = ["Sunny, ", "21C in ", "Paris."]
CALL_ID = "call_1"
OUTPUT = {"tempC": 21, "sky": "sunny"}


async def replay(events: Iterable[Any]) -> AsyncIterator[Any]:
    """An SDK stream as the agent reads it: an async iterator of typed events."""
    for event in events:
        yield event


# --- OpenAI Chat Completions -----------------------------------------------------------------------

def _chunk(delta: ChoiceDelta, finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk(id="chatcmpl-1", object="chat.completion.chunk", created=0, model="gpt-test",
                               choices=[Choice(index=0, delta=delta, finish_reason=finish)])  # type: ignore[arg-type]


def chat_tool_call() -> list[ChatCompletionChunk]:
    out = [_chunk(ChoiceDelta(role="assistant"))]
    out += [_chunk(ChoiceDelta(reasoning_content=t)) for t in THINKING]  # type: ignore[call-arg]
    out += [_chunk(ChoiceDelta(content=t)) for t in LEAD]
    out.append(_chunk(ChoiceDelta(tool_calls=[ChoiceDeltaToolCall(
        index=0, id=CALL_ID, type="function", function=ChoiceDeltaToolCallFunction(name="get_weather",
                                                                                     arguments=""))])))
    out += [_chunk(ChoiceDelta(tool_calls=[ChoiceDeltaToolCall(
        index=0, function=ChoiceDeltaToolCallFunction(arguments=piece))])) for piece in ARGS]
    out.append(_chunk(ChoiceDelta(), "tool_calls"))
    return out


def chat_answer() -> list[ChatCompletionChunk]:
    return [*(_chunk(ChoiceDelta(content=t)) for t in ANSWER), _chunk(ChoiceDelta(), "stop")]


# --- OpenAI Responses ------------------------------------------------------------------------------

def _response(status: str, output: list[Any]) -> Response:
    return Response(id="resp_1", object="response", created_at=0, model="gpt-test", output=output,
                    parallel_tool_calls=True, tool_choice="auto", tools=[], status=status)  # type: ignore[arg-type]


def responses_tool_call() -> list[Any]:
    reasoning = ResponseReasoningItem(id="rs_1", type="reasoning", summary=[])
    message = ResponseOutputMessage(id="msg_1", type="message", role="assistant", status="completed", content=[])
    call = ResponseFunctionToolCall(id="fc_1", type="function_call", call_id=CALL_ID, name="get_weather",
                                    arguments="", status="in_progress")
    seq = iter(range(100))
    out: list[Any] = [ResponseCreatedEvent(type="response.created", response=_response("in_progress", []),
                                           sequence_number=next(seq)),
                      ResponseOutputItemAddedEvent(type="response.output_item.added", item=reasoning, output_index=0,
                                                   sequence_number=next(seq))]
    out += [ResponseReasoningSummaryTextDeltaEvent(type="response.reasoning_summary_text.delta", item_id="rs_1",
                                                   output_index=0, summary_index=0, delta=t,
                                                   sequence_number=next(seq)) for t in THINKING]
    out += [ResponseOutputItemDoneEvent(type="response.output_item.done", item=reasoning, output_index=0,
                                        sequence_number=next(seq)),
            ResponseOutputItemAddedEvent(type="response.output_item.added", item=message, output_index=1,
                                         sequence_number=next(seq))]
    out += [ResponseTextDeltaEvent(type="response.output_text.delta", item_id="msg_1", output_index=1,
                                   content_index=0, delta=t, logprobs=[], sequence_number=next(seq)) for t in LEAD]
    out += [ResponseOutputItemDoneEvent(type="response.output_item.done", item=message, output_index=1,
                                        sequence_number=next(seq)),
            ResponseOutputItemAddedEvent(type="response.output_item.added", item=call, output_index=2,
                                         sequence_number=next(seq))]
    out += [ResponseFunctionCallArgumentsDeltaEvent(type="response.function_call_arguments.delta", item_id="fc_1",
                                                    output_index=2, delta=piece, sequence_number=next(seq))
            for piece in ARGS]
    done = call.model_copy(update={"arguments": "".join(ARGS), "status": "completed"})
    out += [ResponseFunctionCallArgumentsDoneEvent(type="response.function_call_arguments.done", item_id="fc_1",
                                                   output_index=2, name="get_weather", arguments="".join(ARGS),
                                                   sequence_number=next(seq)),
            ResponseOutputItemDoneEvent(type="response.output_item.done", item=done, output_index=2,
                                        sequence_number=next(seq)),
            ResponseCompletedEvent(type="response.completed", response=_response("completed", [done]),
                                   sequence_number=next(seq))]
    return out


def responses_answer() -> list[Any]:
    message = ResponseOutputMessage(id="msg_2", type="message", role="assistant", status="completed", content=[])
    seq = iter(range(100))
    out: list[Any] = [ResponseCreatedEvent(type="response.created", response=_response("in_progress", []),
                                           sequence_number=next(seq)),
                      ResponseOutputItemAddedEvent(type="response.output_item.added", item=message, output_index=0,
                                                   sequence_number=next(seq))]
    out += [ResponseTextDeltaEvent(type="response.output_text.delta", item_id="msg_2", output_index=0,
                                   content_index=0, delta=t, logprobs=[], sequence_number=next(seq)) for t in ANSWER]
    out += [ResponseOutputItemDoneEvent(type="response.output_item.done", item=message, output_index=0,
                                        sequence_number=next(seq)),
            ResponseCompletedEvent(type="response.completed", response=_response("completed", [message]),
                                   sequence_number=next(seq))]
    return out


# --- Anthropic Messages ----------------------------------------------------------------------------

def _start() -> a.RawMessageStartEvent:
    return a.RawMessageStartEvent(type="message_start", message=a.Message(
        id="msg_1", type="message", role="assistant", model="claude-test", content=[], stop_reason=None,
        stop_sequence=None, usage=a.Usage(input_tokens=1, output_tokens=0)))


def _stop(reason: str) -> list[Any]:
    return [a.RawMessageDeltaEvent(type="message_delta", delta={"stop_reason": reason, "stop_sequence": None},
                                   usage={"output_tokens": 5}),  # type: ignore[arg-type]
            a.RawMessageStopEvent(type="message_stop")]


def anthropic_tool_call() -> list[Any]:
    out: list[Any] = [_start(), a.RawContentBlockStartEvent(
        type="content_block_start", index=0, content_block=a.ThinkingBlock(type="thinking", thinking="",
                                                                           signature=""))]
    out += [a.RawContentBlockDeltaEvent(type="content_block_delta", index=0,
                                        delta=a.ThinkingDelta(type="thinking_delta", thinking=t)) for t in THINKING]
    out += [a.RawContentBlockDeltaEvent(type="content_block_delta", index=0,
                                        delta=a.SignatureDelta(type="signature_delta", signature="sig")),
            a.RawContentBlockStopEvent(type="content_block_stop", index=0),
            a.RawContentBlockStartEvent(type="content_block_start", index=1,
                                        content_block=a.TextBlock(type="text", text=""))]
    out += [a.RawContentBlockDeltaEvent(type="content_block_delta", index=1,
                                        delta=a.TextDelta(type="text_delta", text=t)) for t in LEAD]
    out += [a.RawContentBlockStopEvent(type="content_block_stop", index=1),
            a.RawContentBlockStartEvent(type="content_block_start", index=2, content_block=a.ToolUseBlock(
                type="tool_use", id=CALL_ID, name="get_weather", input={}))]
    out += [a.RawContentBlockDeltaEvent(type="content_block_delta", index=2,
                                        delta=a.InputJSONDelta(type="input_json_delta", partial_json=piece))
            for piece in ARGS]
    return [*out, a.RawContentBlockStopEvent(type="content_block_stop", index=2), *_stop("tool_use")]


def anthropic_answer() -> list[Any]:
    out: list[Any] = [_start(), a.RawContentBlockStartEvent(type="content_block_start", index=0,
                                                            content_block=a.TextBlock(type="text", text=""))]
    out += [a.RawContentBlockDeltaEvent(type="content_block_delta", index=0,
                                        delta=a.TextDelta(type="text_delta", text=t)) for t in ANSWER]
    return [*out, a.RawContentBlockStopEvent(type="content_block_stop", index=0), *_stop("end_turn")]


SCRIPTS = {
    "chat": (chat_tool_call, chat_answer),
    "responses": (responses_tool_call, responses_answer),
    "anthropic": (anthropic_tool_call, anthropic_answer),
}
