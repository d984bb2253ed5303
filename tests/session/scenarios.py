"""Codec scenarios shared by the golden tests: the same inputs go through the JS and Python codecs."""

from __future__ import annotations

from typing import Any

AGENT = {"role": "assistant", "run-id": "R1", "run-client-id": "alice", "parent": "U1", "invocation-id": "I1",
         "input-client-id": "alice", "input-codec-message-id": "U1", "step-id": "I1-step-0",
         "step-client-id": "alice", "codec-message-id": "A1"}


def out(event: dict[str, Any], **options: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "output", "event": event}
    if options:
        step["options"] = options
    return step


def inp(event: dict[str, Any], **options: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "input", "event": event}
    if options:
        step["options"] = options
    return step


FULL_REPLY = {
    "options": {"headers": AGENT, "messageId": "A1"},
    "ops": [
        out({"type": "start"}),
        out({"type": "start-step"}),
        out({"type": "reasoning-start", "id": "r1"}),
        out({"type": "reasoning-delta", "id": "r1", "delta": "thinking… "}),
        out({"type": "reasoning-end", "id": "r1"}),
        out({"type": "text-start", "id": "t1", "providerMetadata": {"openai": {"itemId": "x"}}}),
        out({"type": "text-delta", "id": "t1", "delta": "2+2 "}),
        out({"type": "text-delta", "id": "t1", "delta": "is 4. ✓"}),
        out({"type": "text-end", "id": "t1"}),
        out({"type": "tool-input-start", "toolCallId": "c1", "toolName": "weather", "title": "Weather"}),
        out({"type": "tool-input-delta", "toolCallId": "c1", "inputTextDelta": '{"city":'}),
        out({"type": "tool-input-delta", "toolCallId": "c1", "inputTextDelta": '"Paris"}'}),
        out({"type": "tool-input-available", "toolCallId": "c1", "toolName": "weather", "input": {"city": "Paris"}}),
        out({"type": "tool-output-available", "toolCallId": "c1", "output": {"temp": 21, "sky": None},
             "preliminary": False}),
        out({"type": "data-weather", "id": "d1", "data": {"temp": 21}}),
        out({"type": "data-weather", "id": "d1", "data": {"temp": 22}}),
        out({"type": "data-progress", "data": 0.5, "transient": True}),
        out({"type": "file", "url": "https://example.com/a.png", "mediaType": "image/png"}),
        out({"type": "source-url", "sourceId": "src1", "url": "https://example.com", "title": "Example"}),
        out({"type": "source-document", "sourceId": "src2", "mediaType": "text/plain", "title": "Doc",
             "filename": "doc.txt"}),
        out({"type": "message-metadata", "messageMetadata": {"tokens": 12}}),
        out({"type": "finish-step"}),
        out({"type": "finish", "finishReason": "tool-calls", "messageMetadata": {"tokens": 14}}),
        {"op": "close"},
    ],
}

TOOLS = {
    "options": {"headers": {**AGENT, "codec-message-id": "A2"}},
    "ops": [
        out({"type": "start", "messageId": "ui-msg-7", "messageMetadata": {"model": "fake"}}),
        out({"type": "tool-input-available", "toolCallId": "c2", "toolName": "lookup", "input": {"q": "x"},
             "providerMetadata": {"p": 1}}),
        out({"type": "tool-input-start", "toolCallId": "c3", "toolName": "calc", "dynamic": True,
             "providerExecuted": True}),
        out({"type": "tool-input-delta", "toolCallId": "c3", "inputTextDelta": "not json"}),
        out({"type": "tool-input-available", "toolCallId": "c3", "toolName": "calc", "input": "not json"}),
        out({"type": "tool-output-error", "toolCallId": "c3", "errorText": "boom", "dynamic": True}),
        out({"type": "tool-input-error", "toolCallId": "c4", "toolName": "bad", "input": {"a": 1},
             "errorText": "invalid"}),
        out({"type": "tool-approval-request", "toolCallId": "c2", "approvalId": "ap1"}),
        out({"type": "tool-output-denied", "toolCallId": "c2"}),
        out({"type": "error", "errorText": "model failed"}),
        out({"type": "abort", "reason": "user stop"}),
        out({"type": "abort"}),
        {"op": "close"},
    ],
}

CANCELLED = {
    "options": {"headers": {**AGENT, "codec-message-id": "A3"}, "messageId": "A3"},
    "ops": [
        out({"type": "start"}),
        out({"type": "text-start", "id": "t9"}),
        out({"type": "text-delta", "id": "t9", "delta": "partial"}),
        out({"type": "reasoning-start", "id": "r9"}),
        {"op": "cancel"},
        {"op": "cancel"},
        {"op": "close"},
        out({"type": "finish"}),
    ],
}

RECOVERY = {
    "options": {"headers": {**AGENT, "codec-message-id": "A4"}},
    "failAppends": ["lost "],
    "ops": [
        out({"type": "text-start", "id": "t1"}),
        out({"type": "text-delta", "id": "t1", "delta": "kept "}),
        out({"type": "text-delta", "id": "t1", "delta": "lost "}),
        out({"type": "text-delta", "id": "t1", "delta": "end"}),
        out({"type": "text-end", "id": "t1"}),
        {"op": "close"},
    ],
}

USER = {"role": "user", "run-client-id": "alice", "event-id": "E1"}
INPUTS = {
    "ops": [
        inp({"kind": "user-message", "message": {"id": "m1", "role": "user", "parts": [
            {"type": "text", "text": "What is 2+2?"},
            {"type": "step-start"},
            {"type": "file", "url": "https://example.com/f.pdf", "mediaType": "application/pdf"},
            {"type": "data-context", "id": "ctx", "data": {"k": [1, 2]}},
        ]}}, headers=USER, messageId="U1"),
        inp({"kind": "user-message", "message": {"id": "m2", "role": "user", "parts": []}},
            headers={**USER, "event-id": "E2", "parent": "A1"}, messageId="U2"),
        inp({"kind": "regenerate", "target": "A1", "parent": "U1"},
            headers={**USER, "event-id": "E3", "parent": "U1", "msg-regenerate": "A1"}, messageId="G1"),
        inp({"kind": "tool-result", "codecMessageId": "A2", "payload": {"toolCallId": "c2", "output": {"ok": True}}},
            headers={**USER, "event-id": "E4", "run-id": "R1"}, messageId="A2"),
        inp({"kind": "tool-result-error", "codecMessageId": "F1", "payload": {
            "toolCallId": "c9", "message": "denied", "forkSeed": {"messages": [
                {"codecMessageId": "F1", "message": {"id": "x", "role": "assistant", "parts": [
                    {"type": "tool-search", "toolCallId": "c9", "state": "input-available", "input": {"q": 1}},
                    {"type": 7}]}},
                {"codecMessageId": 3, "message": {}}]}}},
            headers={**USER, "event-id": "E5", "role": "assistant", "supersedes": "R0"}, messageId="F1"),
        inp({"kind": "tool-approval-response", "codecMessageId": "A2",
             "payload": {"toolCallId": "c2", "approved": True, "reason": "fine"}},
            headers={**USER, "event-id": "E6", "run-id": "R1"}, messageId="A2"),
        inp({"kind": "nope"}),
    ],
}

ENCODE = [FULL_REPLY, TOOLS, CANCELLED, RECOVERY, INPUTS]
