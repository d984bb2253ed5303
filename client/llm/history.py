"""Reading a session's UIMessages back as model turns: the user's text, and each assistant step's text
and answered tool calls (a step ends where the reducer put a `step-start` part)."""

from __future__ import annotations

import json
from typing import Any

ANSWERED = ("output-available", "output-error", "output-denied")


def user_text(message: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in message.get("parts", []) if p.get("type") == "text")


def tool_name(part: dict[str, Any]) -> str:
    """`tool-<name>` parts carry the name in the type; `dynamic-tool` parts in `toolName`."""
    return part.get("toolName") or part["type"].removeprefix("tool-")


def tool_result_text(part: dict[str, Any]) -> tuple[str, bool]:
    """The tool's answer as the text a model reads, and whether it is an error."""
    state = part.get("state")
    if state == "output-error":
        return str(part.get("errorText") or "tool failed"), True
    if state == "output-denied":
        return "the user denied this tool call", True
    output = part.get("output")
    return (output if isinstance(output, str) else json.dumps(output)), False


def assistant_steps(message: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Per step: its text and its answered tool calls (each with `toolName` set). Reasoning is not
    sent back: the SDKs want it signed or encrypted, which a UIMessage does not keep."""
    steps: list[tuple[list[str], list[dict[str, Any]]]] = [([], [])]
    for part in message.get("parts", []):
        kind = part.get("type", "")
        if kind == "step-start":
            if steps[-1] != ([], []):
                steps.append(([], []))
        elif kind == "text":
            steps[-1][0].append(part.get("text", ""))
        elif (kind == "dynamic-tool" or kind.startswith("tool-")) and part.get("state") in ANSWERED:
            steps[-1][1].append({**part, "toolName": tool_name(part)})
    return [("".join(texts), tools) for texts, tools in steps if texts or tools]
