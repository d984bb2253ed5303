"""The codec contract: what a codec is, what encoders and decoders exchange with the channel.

Domain events are plain dicts keyed exactly as on the wire and in the JS SDK: outputs carry
`type` (e.g. a Vercel UIMessage chunk), inputs carry `kind` (+ optional `parent`, `target`,
`codecMessageId`). Wire messages are `client.types.Message` values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from ..types import Message, PublishResult, UpdateDeleteResult

Event = dict[str, Any]
"""A codec input (`kind`) or output (`type`) event."""

P = TypeVar("P")
M = TypeVar("M")


class ChannelWriter(Protocol):
    """Where encoders publish. Calls must reach the channel in call order (stream appends rely on it)."""

    async def publish(self, messages: Message | Sequence[Message]) -> PublishResult: ...

    def append_message(self, message: Message) -> Awaitable[UpdateDeleteResult]: ...

    def update_message(self, message: Message) -> Awaitable[UpdateDeleteResult]: ...


@dataclass(slots=True)
class WriteOptions:
    """Per-write overrides: transport `headers` and the `codec-message-id` to stamp."""

    headers: dict[str, str] | None = None
    message_id: str | None = None


@dataclass(slots=True)
class EncoderOptions:
    """Default transport `headers` for every message, a hook to mutate each outgoing message, and the
    fallback domain message id (the Vercel `start` chunk uses it when it carries none)."""

    headers: dict[str, str] | None = None
    on_ably_message: Callable[[Message], None] | None = None
    message_id: str | None = None


@dataclass(slots=True)
class MessagePayload:
    """A discrete message as the codec describes it, before header merging."""

    name: str
    data: Any = ""
    codec_headers: dict[str, str] | None = None
    transport_headers: dict[str, str] | None = None
    ephemeral: bool = False


@dataclass(slots=True)
class StreamPayload:
    """The create or closing append of a streamed message; data must be text."""

    name: str
    data: str = ""
    codec_headers: dict[str, str] | None = None
    transport_headers: dict[str, str] | None = None


@dataclass(slots=True)
class StreamTracker:
    """Decoder state of one streamed message (keyed by its serial)."""

    name: str
    stream_id: str
    accumulated: str
    codec_headers: dict[str, str]
    transport_headers: dict[str, str]
    version: str
    closed: bool = False


@dataclass(frozen=True, slots=True)
class ReducerMeta:
    """`serial` is "" for an optimistic (local) fold; `message_id` is the wire codec-message-id."""

    serial: str
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class CodecEvent:
    """A decoded event tagged with the wire direction it came from (from the message name)."""

    direction: Literal["input", "output"]
    event: Event


@dataclass(slots=True)
class CodecMessage(Generic[M]):
    """A domain message and the codec-message-id that identifies it on the wire."""

    codec_message_id: str
    message: M


@dataclass(slots=True)
class DecodedMessage:
    inputs: list[Event] = field(default_factory=list)
    outputs: list[Event] = field(default_factory=list)

    def events(self) -> list[CodecEvent]:
        """Inputs then outputs, tagged (a message is one direction only, so order is immaterial)."""
        tagged = []  # plain loops: half the cost of two comprehensions and a concatenation, once per token
        for e in self.inputs:
            tagged.append(CodecEvent("input", e))
        for e in self.outputs:
            tagged.append(CodecEvent("output", e))
        return tagged


class Encoder(Protocol):
    async def publish_input(self, event: Event, options: WriteOptions | None = None) -> None: ...

    async def publish_output(self, event: Event, options: WriteOptions | None = None) -> None: ...

    async def cancel_streams(self) -> None: ...

    async def close(self) -> None: ...


class Decoder(Protocol):
    def decode(self, message: Message) -> DecodedMessage: ...


class Codec(Protocol[P, M]):
    """A codec: the wire mapping (encoder/decoder) plus a pure reducer folding events into a projection."""

    adapter_tag: str | None

    def init(self) -> P: ...

    def fold(self, state: P, event: CodecEvent, meta: ReducerMeta) -> P: ...

    def get_messages(self, projection: P) -> list[CodecMessage[M]]: ...

    def create_encoder(self, writer: ChannelWriter, options: EncoderOptions | None = None) -> Encoder: ...

    def create_decoder(self) -> Decoder: ...

    def create_user_message(self, message: M) -> Event: ...

    def create_regenerate(self, target: str, parent: str) -> Event: ...
