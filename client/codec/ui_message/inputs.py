"""The UIMessage codec's `ai-input` table: user messages (one wire part per text/file/data part),
the wire-only regenerate signal, and client tool results and approval responses."""

from __future__ import annotations

from typing import Any

from ..headers import ROLE
from ..inputs import AssembleContext, BatchHeaders, InputDescriptor, batch, event, part
from ..outputs import DataCodec
from ..types import Event
from .fields import (
    F_APPROVED,
    F_ID,
    F_MEDIA_TYPE,
    F_MESSAGE_ID,
    F_REASON,
    F_TOOL_CALL_ID,
    as_string,
)

_EMPTY_PARTS: list[dict[str, Any]] = [{"type": "text", "text": ""}]


def _encodable(p: dict[str, Any]) -> bool:
    kind = p.get("type")
    return isinstance(kind, str) and (kind in ("text", "file") or kind.startswith("data-"))


def _explode(event: Event) -> list[dict[str, Any]]:
    """A message with no encodable part still publishes one empty text part, so it round-trips."""
    parts = [p for p in event["message"].get("parts", []) if isinstance(p, dict) and _encodable(p)]
    return parts or _EMPTY_PARTS


def _message_headers(event: Event) -> BatchHeaders:
    codec: dict[str, str] = {}
    F_MESSAGE_ID.write(codec, event["message"].get("id"))
    return BatchHeaders(codec, {ROLE: event["message"].get("role")})


def _assemble(p: dict[str, Any], ctx: AssembleContext) -> dict[str, Any]:
    return {"message": {"id": F_MESSAGE_ID.read(ctx.codec_headers) or "",
                        "role": ctx.transport_headers.get(ROLE, "user"), "parts": [p]}}


def read_fork_seed(data: Any) -> dict[str, Any] | None:
    """The `forkSeed` of a tool-result fork; drops malformed messages and parts (as the JS codec does)."""
    if not isinstance(data, dict):
        return None
    seed = data.get("forkSeed")
    if not isinstance(seed, dict) or not isinstance(seed.get("messages"), list):
        return None
    messages = []
    for entry in seed["messages"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("codecMessageId"), str):
            continue
        message = entry.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
            continue
        parts = [p for p in message["parts"] if isinstance(p, dict) and isinstance(p.get("type"), str)]
        messages.append({"codecMessageId": entry["codecMessageId"], "message": {**message, "parts": parts}})
    return {"messages": messages}


def _with_seed(out: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("forkSeed") is not None:
        out["forkSeed"] = payload["forkSeed"]
    return out


def _decode_seed(data: Any) -> dict[str, Any]:
    seed = read_fork_seed(data)
    return {"forkSeed": seed} if seed is not None else {}


def _decode_tool_result(data: Any) -> dict[str, Any]:
    out = {"output": data["output"]} if isinstance(data, dict) and "output" in data else {}
    return {**out, **_decode_seed(data)}


def _decode_tool_result_error(data: Any) -> dict[str, Any]:
    text = data.get("message") if isinstance(data, dict) else None
    ok = isinstance(data, dict) and (text is None or isinstance(text, str))
    return {"message": (text or "") if ok else "", **_decode_seed(data)}


INPUTS: tuple[InputDescriptor, ...] = (
    event("tool-result", fields=[F_TOOL_CALL_ID],
          data=DataCodec(lambda p: _with_seed({"output": p.get("output")}, p), _decode_tool_result)),
    event("tool-result-error", fields=[F_TOOL_CALL_ID],
          data=DataCodec(lambda p: _with_seed({"message": p.get("message")}, p), _decode_tool_result_error)),
    event("tool-approval-response", fields=[F_TOOL_CALL_ID, F_APPROVED, F_REASON]),
    event("regenerate", wire_only=True),
    batch("user-message", explode=_explode, part_type_of=lambda p: p["type"], message_headers=_message_headers,
          assemble=_assemble, parts=[
              part("text", data=DataCodec(lambda p: p.get("text"), lambda d: {"text": as_string(d)})),
              part("file", fields=[F_MEDIA_TYPE],
                   data=DataCodec(lambda p: p.get("url"), lambda d: {"url": as_string(d)})),
              part("data-*", fields=[F_ID], data=DataCodec(lambda p: p.get("data"), lambda d: {"data": d})),
          ]),
)
