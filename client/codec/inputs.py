"""Declarative input descriptors (`ai-input`) and their encode/decode drivers.

`event(kind)` publishes one discrete message whose fields and data describe the input's
`payload`; a `wire_only` event carries only `kind` (its meaning rides the transport headers) and
decodes to nothing. `batch(kind)` explodes one domain message into N parts published atomically,
each with `partType` and the per-message headers repeated; each part decodes to a one-part input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import AitError, ErrorCode
from .fields import HeaderField, read_fields, write_fields
from .headers import CODEC_MESSAGE_ID, KIND, PART_TYPE
from .outputs import DataCodec, strip_none, wildcard
from .types import Event, MessagePayload, WriteOptions


@dataclass(frozen=True, slots=True)
class InputEvent:
    kind: str
    fields: tuple[HeaderField, ...] = ()
    data: DataCodec | None = None
    wire_only: bool = False


@dataclass(frozen=True, slots=True)
class InputPart:
    part_type: str
    fields: tuple[HeaderField, ...] = ()
    data: DataCodec | None = None
    match: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class BatchHeaders:
    codec_headers: dict[str, str] | None = None
    transport_headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AssembleContext:
    codec_headers: dict[str, str]
    transport_headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class InputBatch:
    kind: str
    explode: Callable[[Event], Sequence[dict[str, Any]]]
    part_type_of: Callable[[dict[str, Any]], str]
    parts: tuple[InputPart, ...]
    assemble: Callable[[dict[str, Any], AssembleContext], dict[str, Any]]
    message_headers: Callable[[Event], BatchHeaders] | None = None


InputDescriptor = InputEvent | InputBatch


def event(kind: str, *, fields: Sequence[HeaderField] = (), data: DataCodec | None = None,
          wire_only: bool = False) -> InputEvent:
    return InputEvent(kind, tuple(fields), data, wire_only)


def part(part_type: str, *, fields: Sequence[HeaderField] = (), data: DataCodec | None = None) -> InputPart:
    return InputPart(part_type, tuple(fields), data, wildcard(part_type))


def batch(kind: str, *, explode: Callable[[Event], Sequence[dict[str, Any]]],
          part_type_of: Callable[[dict[str, Any]], str], parts: Sequence[InputPart],
          assemble: Callable[[dict[str, Any], AssembleContext], dict[str, Any]],
          message_headers: Callable[[Event], BatchHeaders] | None = None) -> InputBatch:
    return InputBatch(kind, explode, part_type_of, tuple(parts), assemble, message_headers)


def part_for(parts: Sequence[InputPart], part_type: str) -> InputPart | None:
    """An exact non-wildcard part first, else a wildcard whose prefix matches."""
    exact = next((p for p in parts if p.match is None and p.part_type == part_type), None)
    return exact or next((p for p in parts if p.match is not None and p.match(part_type)), None)


def _with_message_transport(payload: MessagePayload, headers: BatchHeaders | None) -> MessagePayload:
    if headers is None or headers.transport_headers is None:
        return payload
    payload.transport_headers = {**(payload.transport_headers or {}), **headers.transport_headers}
    return payload


class InputEncoderDriver:
    def __init__(self, descriptors: Sequence[InputDescriptor], wire_name: str) -> None:
        self._name = wire_name
        self._by_kind = {d.kind: d for d in descriptors}

    async def encode(self, event: Event, core: Any, opts: WriteOptions | None) -> None:
        kind = event.get("kind")
        desc = self._by_kind.get(kind) if isinstance(kind, str) else None
        if desc is None:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to publish; unsupported input kind '{kind}'")
        if isinstance(desc, InputEvent):
            await self._encode_event(desc, event, core, opts)
        else:
            await self._encode_batch(desc, event, core, opts)

    async def _encode_event(self, desc: InputEvent, event: Event, core: Any, opts: WriteOptions | None) -> None:
        if desc.wire_only:
            await core.publish_discrete(MessagePayload(self._name, "", {KIND: desc.kind}), opts)
            return
        source = event.get("payload")
        if not isinstance(source, dict):
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                           f"unable to encode input; event '{desc.kind}' carries no payload object — "
                           "declare it wire_only or use an encode escape hatch")
        data = desc.data.encode(source) if desc.data is not None else ""
        await core.publish_discrete(MessagePayload(self._name, data, write_fields(desc.fields, desc.kind, source)),
                                    opts)

    async def _encode_batch(self, desc: InputBatch, event: Event, core: Any, opts: WriteOptions | None) -> None:
        headers = desc.message_headers(event) if desc.message_headers is not None else None
        payloads: list[MessagePayload] = []
        for item in desc.explode(event):
            part_type = desc.part_type_of(item)
            p = part_for(desc.parts, part_type)
            if p is None:
                continue
            codec = {**write_fields(p.fields, desc.kind, item), **((headers.codec_headers if headers else None) or {}),
                     PART_TYPE: part_type}
            data = p.data.encode(item) if p.data is not None else ""
            payloads.append(_with_message_transport(MessagePayload(self._name, data, codec), headers))
        if not payloads:
            codec = {KIND: desc.kind, **((headers.codec_headers if headers else None) or {})}
            payloads.append(_with_message_transport(MessagePayload(self._name, "", codec), headers))
        await core.publish_discrete_batch(payloads, opts)


class InputDecoderDriver:
    def __init__(self, descriptors: Sequence[InputDescriptor]) -> None:
        self._by_kind = {d.kind: d for d in descriptors}

    def decode(self, kind: str, data: Any, codec: dict[str, str], transport: dict[str, str]) -> list[Event]:
        desc = self._by_kind.get(kind)
        if desc is None:
            return []
        if isinstance(desc, InputEvent):
            if desc.wire_only:
                return []
            bag = read_fields(desc.fields, codec)
            if desc.data is not None:
                bag.update(desc.data.decode(data))
            return [{"kind": desc.kind, "codecMessageId": transport.get(CODEC_MESSAGE_ID, ""),
                     "payload": strip_none(bag)}]
        part_type = codec.get(PART_TYPE, "")
        p = part_for(desc.parts, part_type)
        if p is None:
            return []
        bag = read_fields(p.fields, codec)
        if p.data is not None:
            bag.update(p.data.decode(data))
        bag["type"] = part_type
        return [{"kind": desc.kind, **desc.assemble(strip_none(bag), AssembleContext(codec, transport))}]
