"""The `extras.ai` envelope: header and message names, and reading/writing its two tiers.

Every message the SDK publishes carries `extras.ai.transport` (generic headers) and, when
non-empty, `extras.ai.codec` (the codec's own keys). Values are always strings.
"""

from __future__ import annotations

import json
from typing import Any

from ..types import Message

# Stream headers (encoder/decoder core)
STREAM = "stream"
STATUS = "status"
STREAM_ID = "stream-id"
DISCRETE = "discrete"

# Identity and correlation
RUN_ID = "run-id"
INVOCATION_ID = "invocation-id"
EVENT_ID = "event-id"
CODEC_MESSAGE_ID = "codec-message-id"
RUN_CLIENT_ID = "run-client-id"
INPUT_CLIENT_ID = "input-client-id"
ROLE = "role"

# Branching
PARENT = "parent"
FORK_OF = "fork-of"
MSG_REGENERATE = "msg-regenerate"
SUPERSEDES = "supersedes"

# Run and step lifecycle
RUN_REASON = "run-reason"
STEP_ID = "step-id"
STEP_START_SERIAL = "step-start-serial"
STEP_REASON = "step-reason"
STEP_CLIENT_ID = "step-client-id"
INPUT_CODEC_MESSAGE_ID = "input-codec-message-id"
STEER_CODEC_MESSAGE_IDS = "steer-codec-message-ids"
ERROR_CODE = "error-code"
ERROR_MESSAGE = "error-message"

# Message names
AI_INPUT = "ai-input"
AI_OUTPUT = "ai-output"
RUN_START = "ai-run-start"
RUN_RESUME = "ai-run-resume"
RUN_SUSPEND = "ai-run-suspend"
RUN_END = "ai-run-end"
STEP_START = "ai-step-start"
STEP_END = "ai-step-end"
CANCEL = "ai-cancel"

# Codec-tier keys reserved by the descriptor drivers
KIND = "kind"
PART_TYPE = "partType"


def transport_headers(message: Message) -> dict[str, str]:
    """`extras.ai.transport`, or {} when absent. (This and `codec_headers` repeat each other rather than
    share a helper: they run for every delivered message, where a call less is measurable.)"""
    extras = message.extras
    ai = extras.get("ai") if isinstance(extras, dict) else None
    tier = ai.get("transport") if isinstance(ai, dict) else None
    return tier if isinstance(tier, dict) else {}


def codec_headers(message: Message) -> dict[str, str]:
    """`extras.ai.codec`, or {} when absent."""
    extras = message.extras
    ai = extras.get("ai") if isinstance(extras, dict) else None
    tier = ai.get("codec") if isinstance(ai, dict) else None
    return tier if isinstance(tier, dict) else {}


def has_ai_envelope(message: Message) -> bool:
    """Whether the message is ours: a message without `extras.ai` is an application's own traffic."""
    extras = message.extras
    return isinstance(extras, dict) and isinstance(extras.get("ai"), dict)


def ai_extras(transport: dict[str, str], codec: dict[str, str]) -> dict[str, Any]:
    """The `extras.ai` object; the codec tier is omitted when empty (as the JS SDK does)."""
    return {"transport": transport, "codec": codec} if codec else {"transport": transport}


def json_stringify(value: Any) -> str:
    """`JSON.stringify` for header values and comparisons: compact separators, no ASCII escaping."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json(value: str | None) -> tuple[bool, Any]:
    """(True, value) when `value` is valid JSON, else (False, None): JSON `null` stays distinguishable."""
    if value is None:
        return False, None
    try:
        return True, json.loads(value)
    except ValueError:
        return False, None
