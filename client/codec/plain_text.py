"""A minimal plain-text codec: messages are {"role", "text"}; replies stream as text or arrive whole.

Outputs: the `text` stream (`text-start {id}`, `text-delta {id, delta}`, `text-end {id}`) and the
discrete `text {text}`. Inputs: `user-message` (one text part) and the wire-only `regenerate`.
It shows how little a codec needs, and is the codec the examples' terminal client can use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .define import DefinedCodec, Reducer, define_codec
from .fields import str_field
from .headers import ROLE
from .inputs import AssembleContext, BatchHeaders, batch, part
from .inputs import event as input_event
from .outputs import DataCodec, event, stream
from .types import CodecEvent, CodecMessage, Event, ReducerMeta

PlainMessage = dict[str, Any]
_ID = str_field("id", "")


@dataclass(slots=True)
class PlainProjection:
    messages: list[CodecMessage[PlainMessage]] = field(default_factory=list)


def _message(state: PlainProjection, codec_message_id: str, role: str) -> PlainMessage:
    entry = next((e for e in state.messages if e.codec_message_id == codec_message_id), None)
    if entry is None:
        entry = CodecMessage(codec_message_id, {"role": role, "text": ""})
        state.messages.append(entry)
    return entry.message


def _fold(state: PlainProjection, item: CodecEvent, meta: ReducerMeta) -> PlainProjection:
    if meta.message_id is None:
        return state
    event_ = item.event
    if item.direction == "input":
        if event_.get("kind") == "user-message":
            message = event_["message"]
            _message(state, meta.message_id, message.get("role", "user"))["text"] += message.get("text", "")
        return state
    kind = event_.get("type")
    if kind == "text-start":
        _message(state, meta.message_id, "assistant")
    elif kind == "text-delta":
        _message(state, meta.message_id, "assistant")["text"] += event_.get("delta", "")
    elif kind == "reply":
        _message(state, meta.message_id, "assistant")["text"] += event_.get("text", "")
    return state


def _assemble(p: dict[str, Any], ctx: AssembleContext) -> dict[str, Any]:
    return {"message": {"role": ctx.transport_headers.get(ROLE, "user"), "text": p.get("text", "")}}


def plain_text_codec() -> DefinedCodec[PlainProjection, PlainMessage]:
    return define_codec(
        reducer=Reducer(PlainProjection, _fold, lambda p: p.messages),
        outputs=[
            stream("text", stream_id=lambda c: c["id"], fields=[_ID], start="text-start", delta="text-delta",
                   delta_field="delta", end="text-end"),
            event("reply", data=DataCodec(lambda c: c.get("text", ""),
                                         lambda d: {"text": d if isinstance(d, str) else ""})),
        ],
        inputs=[
            batch("user-message", explode=lambda e: [{"type": "text", "text": e["message"].get("text", "")}],
                  part_type_of=lambda p: p["type"], assemble=_assemble,
                  message_headers=lambda e: BatchHeaders(None, {ROLE: e["message"].get("role", "user")}),
                  parts=[part("text", data=DataCodec(lambda p: p.get("text", ""),
                                                     lambda d: {"text": d if isinstance(d, str) else ""}))]),
            input_event("regenerate", wire_only=True),
        ])


def user_text(text: str) -> Event:
    """The input for a user's plain-text message."""
    return {"kind": "user-message", "message": {"role": "user", "text": text}}
