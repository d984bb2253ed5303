"""The codec layer: how AI session events map onto Ably messages (wire-compatible with @ably/ai-transport 0.8.0)."""

from .decoder import DecoderCore
from .define import (
    CodecDecoder,
    CodecEncoder,
    DefinedCodec,
    LifecyclePolicy,
    Reducer,
    define_codec,
)
from .encoder import EncoderCore
from .errors import AitError, ErrorCode
from .fields import HeaderField, bool_field, enum_field, json_field, str_field
from .lifecycle import LifecycleTracker, Phase
from .plain_text import plain_text_codec, user_text
from .types import (
    ChannelWriter,
    Codec,
    CodecEvent,
    CodecMessage,
    DecodedMessage,
    Decoder,
    Encoder,
    EncoderOptions,
    Event,
    MessagePayload,
    ReducerMeta,
    StreamPayload,
    StreamTracker,
    WriteOptions,
)
from .ui_message import ui_message_codec

__all__ = [
    "AitError", "ChannelWriter", "Codec", "CodecDecoder", "CodecEncoder", "CodecEvent", "CodecMessage",
    "DecodedMessage", "Decoder", "DecoderCore", "DefinedCodec", "Encoder", "EncoderCore", "EncoderOptions",
    "ErrorCode", "Event", "HeaderField", "LifecyclePolicy", "LifecycleTracker", "MessagePayload", "Phase", "Reducer",
    "ReducerMeta", "StreamPayload", "StreamTracker", "WriteOptions", "bool_field", "define_codec", "enum_field",
    "json_field", "plain_text_codec", "str_field", "ui_message_codec", "user_text",
]
