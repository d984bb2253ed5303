"""Declarative output descriptors (`ai-output`) and the drivers that encode and decode through them.

A codec declares each output event type once: `event` (one discrete message, `kind` = type),
`stream` (one streamed message per stream: start -> create, delta -> append, end -> closing
append, `kind` = the group id) or `drop` (known, never published). Anything else is refused at
encode time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import AitError, ErrorCode
from .fields import HeaderField, read_fields, write_fields
from .types import Event, MessagePayload, StreamPayload, StreamTracker, WriteOptions

HeaderBuilder = Callable[..., dict[str, str]]
"""`h(event, keys=None)`: codec headers for `event` through the descriptor's fields."""


@dataclass(frozen=True, slots=True)
class DataCodec:
    """Wire `data` for an event: `encode(event)`; `decode(data)` returns the props it contributes."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class HatchContext:
    """What an escape-hatch encoder gets: the header builder, wire name, fallback message id, write options."""

    h: HeaderBuilder
    name: str
    message_id: str | None
    opts: WriteOptions | None


EncodeHatch = Callable[[Event, Any, HatchContext], Awaitable[None]]
"""`encode(event, core, ctx)`; `core` is the EncoderCore."""


@dataclass(frozen=True, slots=True)
class DiscreteContext:
    codec_kind: str
    codec_headers: dict[str, str]
    transport_headers: dict[str, str]
    data: Any


@dataclass(frozen=True, slots=True)
class DeltaContext:
    stream_id: str
    delta: str
    codec_headers: dict[str, str]
    rebuild: Callable[[Sequence[HeaderField]], list[Event]]


@dataclass(frozen=True, slots=True)
class EndContext:
    stream_id: str
    accumulated: str
    codec_headers: dict[str, str]
    closing_codec_headers: dict[str, str]


def wildcard(literal: str) -> Callable[[str], bool] | None:
    """A literal ending in `-*` matches any value with its prefix (e.g. `data-*`)."""
    if not literal.endswith("-*"):
        return None
    prefix = literal[:-1]
    return lambda value: value.startswith(prefix)


@dataclass(frozen=True, slots=True)
class OutputEvent:
    type: str
    fields: tuple[HeaderField, ...] = ()
    data: DataCodec | None = None
    ephemeral: Callable[[Event], bool] | None = None
    encode: EncodeHatch | None = None
    match: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class OutputStream:
    kind: str
    stream_id: Callable[[Event], str]
    fields: tuple[HeaderField, ...]
    start: str
    delta: str
    delta_field: str
    end: str
    start_match: Callable[[Event], bool] | None = None
    delta_decode: Callable[[DeltaContext], list[Event]] | None = None
    end_encode: EncodeHatch | None = None
    end_decode: Callable[[EndContext], list[Event]] | None = None
    decode_discrete: Callable[[DiscreteContext], list[Event]] | None = None
    delta_fields: tuple[HeaderField, ...] = ()


@dataclass(frozen=True, slots=True)
class OutputDrop:
    type: str


OutputDescriptor = OutputEvent | OutputStream | OutputDrop


def event(type: str, *, fields: Sequence[HeaderField] = (), data: DataCodec | None = None,
          ephemeral: Callable[[Event], bool] | None = None, encode: EncodeHatch | None = None) -> OutputEvent:
    return OutputEvent(type, tuple(fields), data, ephemeral, encode, wildcard(type))


def stream(kind: str, *, stream_id: Callable[[Event], str], fields: Sequence[HeaderField], start: str,
           delta: str, delta_field: str, end: str, start_match: Callable[[Event], bool] | None = None,
           delta_decode: Callable[[DeltaContext], list[Event]] | None = None,
           end_encode: EncodeHatch | None = None, end_decode: Callable[[EndContext], list[Event]] | None = None,
           decode_discrete: Callable[[DiscreteContext], list[Event]] | None = None,
           delta_fields: Sequence[HeaderField] = ()) -> OutputStream:
    """`delta_fields`: the stream headers each decoded delta event carries (the JS `rebuild([...])`
    without a per-delta hook); `delta_decode` replaces that rebuild when a codec needs more."""
    if end_encode is not None and end_decode is None:
        raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                       f"unable to define stream '{kind}'; a custom end encode needs a custom end decode")
    return OutputStream(kind, stream_id, tuple(fields), start, delta, delta_field, end, start_match,
                        delta_decode, end_encode, end_decode, decode_discrete, tuple(delta_fields))


def drop(type: str) -> OutputDrop:
    return OutputDrop(type)


def strip_none(bag: dict[str, Any]) -> dict[str, Any]:
    """The JS `stripUndefined`: None stands for an absent value."""
    return {k: v for k, v in bag.items() if v is not None}


def _rebuild(type_value: str, bag: dict[str, Any]) -> Event:
    bag["type"] = type_value
    return bag


def _delta_event(d: OutputStream, fields: Sequence[HeaderField], headers: dict[str, str], delta: str) -> list[Event]:
    bag = read_fields(fields, headers)
    bag[d.delta_field] = delta
    bag["type"] = d.delta  # as `_rebuild` does, inline: once per streamed token
    return [bag]


@dataclass(slots=True)
class _Dispatch:
    exact: dict[str, OutputEvent] = field(default_factory=dict)
    wildcards: list[OutputEvent] = field(default_factory=list)


def _partition(descriptors: Sequence[OutputDescriptor]) -> _Dispatch:
    dispatch = _Dispatch()
    for d in descriptors:
        if isinstance(d, OutputEvent):
            if d.match is not None:
                dispatch.wildcards.append(d)
            else:
                dispatch.exact[d.type] = d
    return dispatch


class OutputEncoderDriver:
    """Route an output event to its descriptor and through the encoder core."""

    def __init__(self, descriptors: Sequence[OutputDescriptor], wire_name: str) -> None:
        self._name = wire_name
        self._dispatch = _partition(descriptors)
        self._starts: dict[str, list[OutputStream]] = {}
        self._phases: dict[str, tuple[OutputStream, str]] = {}
        self._dropped: set[str] = set()
        for d in descriptors:
            if isinstance(d, OutputStream):
                self._starts.setdefault(d.start, []).append(d)
                self._phases[d.delta] = (d, "delta")
                self._phases[d.end] = (d, "end")
            elif isinstance(d, OutputDrop):
                self._dropped.add(d.type)

    async def _stream_phase(self, d: OutputStream, phase: str, chunk: Event, core: Any, message_id: str | None,
                            opts: WriteOptions | None) -> None:
        def h(c: Event, keys: Sequence[str] | None = None) -> dict[str, str]:
            return write_fields(d.fields, d.kind, c, keys)

        sid = d.stream_id(chunk)
        if phase == "start":
            await core.start_stream(sid, StreamPayload(self._name, "", h(chunk)), opts)
        elif phase == "delta":
            fragment = chunk.get(d.delta_field)
            if not isinstance(fragment, str):
                raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                               f"unable to publish; '{chunk['type']}' needs a string '{d.delta_field}'")
            core.append_stream(sid, fragment)
        elif d.end_encode is not None:
            await d.end_encode(chunk, core, HatchContext(h, self._name, message_id, opts))
        else:
            await core.close_stream(sid, StreamPayload(self._name, "", h(chunk)))

    async def encode(self, chunk: Event, core: Any, message_id: str | None, opts: WriteOptions | None) -> None:
        kind = chunk.get("type")
        if not isinstance(kind, str):
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, "unable to publish; output event has no string 'type'")
        candidates = self._starts.get(kind)
        if candidates is not None:
            chosen = next((d for d in candidates if d.start_match is None or d.start_match(chunk)), None)
            if chosen is not None:
                await self._stream_phase(chosen, "start", chunk, core, message_id, opts)
                return
        elif kind in self._phases:
            d, phase = self._phases[kind]
            await self._stream_phase(d, phase, chunk, core, message_id, opts)
            return
        exact = self._dispatch.exact.get(kind)
        if exact is None and kind in self._dropped:
            return
        desc = exact or next((w for w in self._dispatch.wildcards if w.match and w.match(kind)), None)
        if desc is None:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to publish; unsupported event type '{kind}'")

        def h(c: Event, keys: Sequence[str] | None = None) -> dict[str, str]:
            return write_fields(desc.fields, c["type"], c, keys)

        if desc.encode is not None:
            await desc.encode(chunk, core, HatchContext(h, self._name, message_id, opts))
            return
        data = desc.data.encode(chunk) if desc.data is not None else ""
        ephemeral = bool(desc.ephemeral(chunk)) if desc.ephemeral is not None else False
        await core.publish_discrete(MessagePayload(self._name, data, h(chunk), None, ephemeral), opts)


class OutputDecoderDriver:
    """Rebuild output events from stream trackers and discrete messages."""

    def __init__(self, descriptors: Sequence[OutputDescriptor]) -> None:
        self._dispatch = _partition(descriptors)
        self._streams = {d.kind: d for d in descriptors if isinstance(d, OutputStream)}

    def _stream_of(self, tracker: StreamTracker) -> OutputStream | None:
        return self._streams.get(tracker.codec_headers.get("kind", ""))

    def build_start(self, tracker: StreamTracker) -> list[Event]:
        d = self._stream_of(tracker)
        if d is None:
            return []
        return [_rebuild(d.start, read_fields(d.fields, tracker.codec_headers))]

    def build_delta(self, tracker: StreamTracker, delta: str) -> list[Event]:
        d = self._stream_of(tracker)
        if d is None:
            return []
        if d.delta_decode is not None:
            return d.delta_decode(DeltaContext(tracker.stream_id, delta, tracker.codec_headers,
                                               lambda fields: _delta_event(d, fields, tracker.codec_headers, delta)))
        return _delta_event(d, d.delta_fields, tracker.codec_headers, delta)

    def build_end(self, tracker: StreamTracker, closing: dict[str, str]) -> list[Event]:
        d = self._stream_of(tracker)
        if d is None:
            return []
        if d.end_decode is not None:
            return d.end_decode(EndContext(tracker.stream_id, tracker.accumulated, tracker.codec_headers, closing))
        return [_rebuild(d.end, read_fields(d.fields, closing))]

    def decode_discrete(self, kind: str, codec: dict[str, str], transport: dict[str, str], data: Any) -> list[Event]:
        ctx = DiscreteContext(kind, codec, transport, data)
        desc = self._dispatch.exact.get(kind)
        if desc is not None:
            return [self._decode_event(desc, kind, ctx)]
        stream_desc = self._streams.get(kind)
        if stream_desc is not None and stream_desc.decode_discrete is not None:
            return stream_desc.decode_discrete(ctx)
        wild = next((w for w in self._dispatch.wildcards if w.match and w.match(kind)), None)
        return [self._decode_event(wild, kind, ctx)] if wild is not None else []

    @staticmethod
    def _decode_event(desc: OutputEvent, kind: str, ctx: DiscreteContext) -> Event:
        bag = read_fields(desc.fields, ctx.codec_headers)
        if desc.data is not None:
            bag.update(desc.data.decode(ctx.data))
        return _rebuild(kind, bag)

