"""`define_codec`: build a full codec (encoder, decoder, reducer, well-known input factories) from tables.

The tables are validated once (unique dispatch literals, reserved keys) and the drivers built from
them are shared by every encoder and decoder the codec creates. An optional lifecycle policy adds
lead-in events while decoding (per decoder, per run) — the Vercel codec uses it to synthesise the
`start`/`start-step` a mid-stream joiner never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..types import Message
from .decoder import DecoderCore
from .encoder import EncoderCore
from .errors import AitError, ErrorCode
from .fields import HeaderField
from .headers import AI_INPUT, AI_OUTPUT, KIND, PART_TYPE, RUN_ID
from .inputs import (
    InputBatch,
    InputDecoderDriver,
    InputDescriptor,
    InputEncoderDriver,
    InputEvent,
)
from .outputs import (
    OutputDecoderDriver,
    OutputDescriptor,
    OutputDrop,
    OutputEncoderDriver,
    OutputEvent,
    OutputStream,
)
from .types import (
    ChannelWriter,
    CodecEvent,
    CodecMessage,
    DecodedMessage,
    EncoderOptions,
    Event,
    MessagePayload,
    ReducerMeta,
    StreamTracker,
    WriteOptions,
)

P = TypeVar("P")
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Reducer(Generic[P, M]):
    """Pure fold: called once per event in canonical (serial) order; may mutate and return `state`."""

    init: Callable[[], P]
    fold: Callable[[P, CodecEvent, ReducerMeta], P]
    get_messages: Callable[[P], list[CodecMessage[M]]]


@dataclass(slots=True)
class LifecyclePolicy:
    """Lead-in events prepended while decoding: per discrete `kind`, and at each stream start."""

    on_discrete: dict[str, Callable[[str, dict[str, str]], list[Event]]] = field(default_factory=dict)
    on_stream_start: Callable[[str, StreamTracker], list[Event]] | None = None


class CodecEncoder:
    """`publish_input` on `ai-input`, `publish_output` on `ai-output`; stream state shared by both."""

    def __init__(self, writer: ChannelWriter, options: EncoderOptions, outputs: OutputEncoderDriver,
                 inputs: InputEncoderDriver) -> None:
        self._core = EncoderCore(writer, options)
        self._message_id = options.message_id
        self._outputs = outputs
        self._inputs = inputs

    async def publish_input(self, event: Event, options: WriteOptions | None = None) -> None:
        await self._inputs.encode(event, self._core, options)

    async def publish_output(self, event: Event, options: WriteOptions | None = None) -> None:
        await self._outputs.encode(event, self._core, self._message_id, options)

    async def cancel_streams(self) -> None:
        await self._core.cancel_all_streams()

    async def close(self) -> None:
        await self._core.close()


class _Hooks:
    """Decoder-core hooks: only `ai-output` streams rebuild; discrete messages route by name then kind."""

    def __init__(self, outputs: OutputDecoderDriver, inputs: InputDecoderDriver,
                 lifecycle: LifecyclePolicy | None) -> None:
        self._outputs = outputs
        self._inputs = inputs
        self._lifecycle = lifecycle

    def build_start_events(self, tracker: StreamTracker) -> list[Event]:
        if tracker.name != AI_OUTPUT:
            return []
        pre: list[Event] = []
        if self._lifecycle is not None and self._lifecycle.on_stream_start is not None:
            pre = self._lifecycle.on_stream_start(tracker.transport_headers.get(RUN_ID, ""), tracker)
        return [*pre, *self._outputs.build_start(tracker)]

    def build_delta_events(self, tracker: StreamTracker, delta: str) -> list[Event]:
        return self._outputs.build_delta(tracker, delta) if tracker.name == AI_OUTPUT else []

    def build_end_events(self, tracker: StreamTracker, closing: dict[str, str]) -> list[Event]:
        return self._outputs.build_end(tracker, closing) if tracker.name == AI_OUTPUT else []

    def decode_discrete(self, payload: MessagePayload) -> list[Event]:
        codec = payload.codec_headers or {}
        transport = payload.transport_headers or {}
        kind = codec.get(KIND, "")
        if payload.name == AI_INPUT:
            return self._inputs.decode(kind, payload.data, codec, transport)
        if payload.name != AI_OUTPUT:
            return []
        pre: list[Event] = []
        if self._lifecycle is not None:
            repair = self._lifecycle.on_discrete.get(kind)  # a plain dict lookup: no attribute fallbacks
            if repair is not None:
                pre = repair(transport.get(RUN_ID, ""), codec)
        return [*pre, *self._outputs.decode_discrete(kind, codec, transport, payload.data)]


class CodecDecoder:
    def __init__(self, core: DecoderCore) -> None:
        self._core = core

    def decode(self, message: Message) -> DecodedMessage:
        events = self._core.decode(message)
        if message.name == AI_INPUT:
            return DecodedMessage(inputs=events)
        return DecodedMessage(outputs=events)


def _validate(outputs: Sequence[OutputDescriptor], inputs: Sequence[InputDescriptor]) -> None:
    def reserve(seen: dict[str, str], literal: str, owner: str) -> None:
        holder = seen.get(literal)
        if holder is not None:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to define codec; dispatch literal '{literal}' "
                                                            f"is declared by both {holder} and {owner}")
        seen[literal] = owner

    def reject_reserved(fields: Sequence[HeaderField], owner: str) -> None:
        for f in fields:
            if f.key in (KIND, PART_TYPE):
                raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                               f"unable to define codec; {owner} binds the driver-reserved header key '{f.key}'")

    wire_kinds: dict[str, str] = {}
    sole: dict[str, tuple[str, bool]] = {}
    starts: dict[str, str] = {}

    def reserve_sole(literal: str, owner: str, delta_or_end: bool) -> None:
        if literal in sole:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to define codec; dispatch literal '{literal}' "
                                                            f"is declared by both {sole[literal][0]} and {owner}")
        sole[literal] = (owner, delta_or_end)

    for d in outputs:
        if isinstance(d, OutputEvent):
            owner = f"output event '{d.type}'"
            reserve_sole(d.type, owner, False)
            reserve(wire_kinds, d.type, owner)
            reject_reserved(d.fields, owner)
        elif isinstance(d, OutputStream):
            owner = f"output stream '{d.kind}'"
            reserve(wire_kinds, d.kind, owner)
            starts[d.start] = owner
            reserve_sole(d.delta, owner, True)
            reserve_sole(d.end, owner, True)
            reject_reserved((*d.fields, *d.delta_fields), owner)
        elif isinstance(d, OutputDrop):
            reserve_sole(d.type, f"dropped output '{d.type}'", False)
    for start, owner in starts.items():
        holder = sole.get(start)
        if holder is not None and holder[1]:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to define codec; stream start '{start}' "
                                                            f"({owner}) collides with the delta/end phase of {holder[0]}")
    input_kinds: dict[str, str] = {}
    for item in inputs:
        owner = f"input {'event' if isinstance(item, InputEvent) else 'batch'} '{item.kind}'"
        reserve(input_kinds, item.kind, owner)
        if isinstance(item, InputEvent):
            reject_reserved(item.fields, owner)
        elif isinstance(item, InputBatch):
            part_types: dict[str, str] = {}
            for p in item.parts:
                part_owner = f"{owner} part '{p.part_type}'"
                reserve(part_types, p.part_type, part_owner)
                reject_reserved(p.fields, part_owner)


class DefinedCodec(Generic[P, M]):
    """A codec built by `define_codec`; satisfies the `Codec` protocol."""

    def __init__(self, adapter_tag: str | None, reducer: Reducer[P, M], outputs: Sequence[OutputDescriptor],
                 inputs: Sequence[InputDescriptor], lifecycle: Callable[[], LifecyclePolicy] | None) -> None:
        _validate(outputs, inputs)
        self.adapter_tag = adapter_tag
        # the reducer's own functions rather than methods delegating to them: `fold` and `get_messages`
        # run for every streamed token, and a call less is measurable there
        self.init: Callable[[], P] = reducer.init
        self.fold: Callable[[P, CodecEvent, ReducerMeta], P] = reducer.fold
        self.get_messages: Callable[[P], list[CodecMessage[M]]] = reducer.get_messages
        self._lifecycle = lifecycle
        self._output_encoder = OutputEncoderDriver(outputs, AI_OUTPUT)
        self._input_encoder = InputEncoderDriver(inputs, AI_INPUT)
        self._output_decoder = OutputDecoderDriver(outputs)
        self._input_decoder = InputDecoderDriver(inputs)

    def create_encoder(self, writer: ChannelWriter, options: EncoderOptions | None = None) -> CodecEncoder:
        return CodecEncoder(writer, options or EncoderOptions(), self._output_encoder, self._input_encoder)

    def create_decoder(self) -> CodecDecoder:
        policy = self._lifecycle() if self._lifecycle is not None else None  # per decoder: per-run phase state
        return CodecDecoder(DecoderCore(_Hooks(self._output_decoder, self._input_decoder, policy)))

    # well-known inputs
    def create_user_message(self, message: M) -> Event:
        return {"kind": "user-message", "message": message}

    def create_regenerate(self, target: str, parent: str) -> Event:
        return {"kind": "regenerate", "target": target, "parent": parent}

    def create_tool_result(self, codec_message_id: str, payload: dict[str, Any]) -> Event:
        return {"kind": "tool-result", "codecMessageId": codec_message_id, "payload": payload}

    def create_tool_result_error(self, codec_message_id: str, payload: dict[str, Any]) -> Event:
        return {"kind": "tool-result-error", "codecMessageId": codec_message_id, "payload": payload}

    def create_tool_approval_response(self, codec_message_id: str, payload: dict[str, Any]) -> Event:
        return {"kind": "tool-approval-response", "codecMessageId": codec_message_id, "payload": payload}


def define_codec(*, reducer: Reducer[P, M], outputs: Sequence[OutputDescriptor], inputs: Sequence[InputDescriptor],
                 adapter_tag: str | None = None,
                 lifecycle: Callable[[], LifecyclePolicy] | None = None) -> DefinedCodec[P, M]:
    return DefinedCodec(adapter_tag, reducer, outputs, inputs, lifecycle)
