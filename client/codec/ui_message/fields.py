"""Codec-tier header fields of the UIMessage codec (camelCase keys, as the Vercel AI SDK names them)."""

from __future__ import annotations

from typing import Any

from ..fields import bool_field, enum_field, json_field, str_field

F_ID = str_field("id")
F_META = json_field("providerMetadata")
F_TOOL_CALL_ID = str_field("toolCallId", "")
F_TOOL_NAME = str_field("toolName", "")
F_DYNAMIC = bool_field("dynamic")
F_TITLE = str_field("title")
F_PROVIDER_EXECUTED = bool_field("providerExecuted")
F_MEDIA_TYPE = str_field("mediaType", "")
F_SOURCE_ID = str_field("sourceId", "")
F_MESSAGE_ID = str_field("messageId")
F_APPROVED = bool_field("approved", False)
F_REASON = str_field("reason")
F_MESSAGE_METADATA = json_field("messageMetadata")
F_FINISH_REASON = enum_field("finishReason", ("stop", "length", "content-filter", "tool-calls", "error", "other"),
                             "stop")


def as_string(data: Any) -> str:
    return data if isinstance(data, str) else ""
