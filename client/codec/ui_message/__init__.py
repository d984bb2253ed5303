"""The UIMessage codec, wire-compatible with @ably/ai-transport's `createUIMessageCodec()` (Vercel AI SDK
UIMessage chunks in, UIMessage dicts out; no Vercel dependency)."""

from __future__ import annotations

from ..define import DefinedCodec, Reducer, define_codec
from . import reducer
from .inputs import INPUTS
from .lifecycle import ui_lifecycle
from .outputs import OUTPUTS
from .state import UIMessage, UIProjection

ADAPTER_TAG = "vercel-ai-sdk-ui-message"


def ui_message_codec() -> DefinedCodec[UIProjection, UIMessage]:
    """A UIMessage codec (the JS `createUIMessageCodec()`)."""
    return define_codec(adapter_tag=ADAPTER_TAG, reducer=Reducer(reducer.init, reducer.fold, reducer.get_messages),
                        outputs=OUTPUTS, inputs=INPUTS, lifecycle=ui_lifecycle)


__all__ = ["ADAPTER_TAG", "UIMessage", "UIProjection", "ui_message_codec"]
