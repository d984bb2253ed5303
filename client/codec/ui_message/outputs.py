"""The UIMessage codec's `ai-output` table: which chunks stream and which are discrete messages."""

from __future__ import annotations

from typing import Any

from ..errors import AitError, ErrorCode
from ..fields import bool_field, str_field
from ..headers import parse_json
from ..outputs import (
    DataCodec,
    DiscreteContext,
    EndContext,
    HatchContext,
    OutputDescriptor,
    event,
    stream,
    strip_none,
)
from ..types import Event, MessagePayload, StreamPayload
from .fields import (
    F_DYNAMIC,
    F_FINISH_REASON,
    F_ID,
    F_MEDIA_TYPE,
    F_MESSAGE_ID,
    F_MESSAGE_METADATA,
    F_META,
    F_PROVIDER_EXECUTED,
    F_SOURCE_ID,
    F_TITLE,
    F_TOOL_CALL_ID,
    F_TOOL_NAME,
    as_string,
)


def _json_or_string(text: str) -> Any:
    """The accumulated tool-input text parsed as JSON, else the raw text; None when empty."""
    if not text:
        return None
    ok, value = parse_json(text)
    return value if ok else text


async def _close_tool_input(chunk: Event, core: Any, ctx: HatchContext) -> None:
    """Close the open tool-input stream; with none open, publish the call as one discrete message."""
    try:
        await core.close_stream(chunk["toolCallId"], StreamPayload(
            ctx.name, "", ctx.h(chunk, ["toolCallId", "toolName", "providerMetadata"])))
    except AitError as exc:
        if exc.code != ErrorCode.INVALID_ARGUMENT:
            raise
        await core.publish_discrete(MessagePayload(ctx.name, chunk.get("input"), ctx.h(chunk)))


def _tool_input_end(ctx: EndContext) -> list[Event]:
    return [strip_none({
        "type": "tool-input-available",
        "toolCallId": ctx.stream_id,
        "toolName": F_TOOL_NAME.read(ctx.closing_codec_headers) or F_TOOL_NAME.read(ctx.codec_headers),
        "input": _json_or_string(ctx.accumulated),
        "providerMetadata": F_META.read(ctx.closing_codec_headers),
    })]


def _tool_input_discrete(ctx: DiscreteContext) -> list[Event]:
    h = ctx.codec_headers
    start = strip_none({"type": "tool-input-start", "toolCallId": F_TOOL_CALL_ID.read(h),
                        "toolName": F_TOOL_NAME.read(h), "dynamic": F_DYNAMIC.read(h), "title": F_TITLE.read(h),
                        "providerExecuted": F_PROVIDER_EXECUTED.read(h), "providerMetadata": F_META.read(h)})
    available = strip_none({"type": "tool-input-available", "toolCallId": F_TOOL_CALL_ID.read(h),
                            "toolName": F_TOOL_NAME.read(h), "providerMetadata": F_META.read(h)})
    if ctx.data is not None:
        available["input"] = ctx.data
    return [start, available]


async def _start(chunk: Event, core: Any, ctx: HatchContext) -> None:
    """`start` carries the agent's assistant codec-message-id when the stream gave no messageId."""
    message_id = chunk.get("messageId")
    await core.publish_discrete(MessagePayload(
        ctx.name, "", ctx.h({**chunk, "messageId": message_id if message_id is not None else ctx.message_id})),
        ctx.opts)


def _record(data: Any) -> dict[str, Any] | None:
    return data if isinstance(data, dict) else None


def _tool_input_error_decode(data: Any) -> dict[str, Any]:
    record = _record(data)
    if record is None or not (record.get("errorText") is None or isinstance(record.get("errorText"), str)):
        return {"errorText": ""}
    out: dict[str, Any] = {"errorText": record.get("errorText") or ""}
    if "input" in record:
        out["input"] = record["input"]
    return out


def _tool_output_decode(data: Any) -> dict[str, Any]:
    record = _record(data)
    return {"output": record["output"]} if record is not None and "output" in record else {}


def _tool_output_error_decode(data: Any) -> dict[str, Any]:
    record = _record(data)
    text = record.get("errorText") if record is not None else None
    return {"errorText": text if isinstance(text, str) else ""}


OUTPUTS: tuple[OutputDescriptor, ...] = (
    stream("text", stream_id=lambda c: c["id"], fields=[F_ID, F_META], start="text-start", delta="text-delta",
           delta_field="delta", end="text-end", delta_fields=[F_ID]),
    stream("reasoning", stream_id=lambda c: c["id"], fields=[F_ID, F_META], start="reasoning-start",
           delta="reasoning-delta", delta_field="delta", end="reasoning-end", delta_fields=[F_ID]),
    stream("tool-input", stream_id=lambda c: c["toolCallId"],
           fields=[F_TOOL_CALL_ID, F_TOOL_NAME, F_DYNAMIC, F_TITLE, F_PROVIDER_EXECUTED, F_META],
           start="tool-input-start", delta="tool-input-delta", delta_field="inputTextDelta",
           end="tool-input-available", delta_fields=[F_TOOL_CALL_ID], end_encode=_close_tool_input,
           end_decode=_tool_input_end, decode_discrete=_tool_input_discrete),
    event("start", fields=[F_MESSAGE_ID, F_MESSAGE_METADATA], encode=_start),
    event("start-step"),
    event("finish-step"),
    event("finish", fields=[F_FINISH_REASON, F_MESSAGE_METADATA]),
    event("message-metadata", fields=[F_MESSAGE_METADATA]),
    event("error", data=DataCodec(lambda c: c.get("errorText"), lambda d: {"errorText": as_string(d)})),
    event("abort", data=DataCodec(lambda c: c.get("reason") or "",
                                  lambda d: {"reason": d} if isinstance(d, str) and d else {})),
    event("file", fields=[F_MEDIA_TYPE, F_META],
          data=DataCodec(lambda c: c.get("url"), lambda d: {"url": as_string(d)})),
    event("source-url", fields=[F_SOURCE_ID, F_TITLE, F_META],
          data=DataCodec(lambda c: c.get("url"), lambda d: {"url": as_string(d)})),
    event("source-document", fields=[F_SOURCE_ID, F_MEDIA_TYPE, str_field("title", ""), str_field("filename"),
                                     F_META]),
    event("tool-input-error", fields=[F_TOOL_CALL_ID, F_TOOL_NAME, F_DYNAMIC, F_TITLE, F_PROVIDER_EXECUTED, F_META],
          data=DataCodec(lambda c: strip_none({"errorText": c.get("errorText"), "input": c.get("input")}),
                         _tool_input_error_decode)),
    event("tool-output-available", fields=[F_TOOL_CALL_ID, F_DYNAMIC, F_PROVIDER_EXECUTED, bool_field("preliminary")],
          data=DataCodec(lambda c: {"output": c.get("output")}, _tool_output_decode)),
    event("tool-output-error", fields=[F_TOOL_CALL_ID, F_DYNAMIC, F_PROVIDER_EXECUTED],
          data=DataCodec(lambda c: {"errorText": c.get("errorText")}, _tool_output_error_decode)),
    event("tool-approval-request", fields=[F_TOOL_CALL_ID, str_field("approvalId", "")]),
    event("tool-output-denied", fields=[F_TOOL_CALL_ID]),
    event("data-*", fields=[F_ID, bool_field("transient")], ephemeral=lambda c: c.get("transient") is True,
          data=DataCodec(lambda c: c.get("data"), lambda d: {"data": d})),
)
