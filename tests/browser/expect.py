"""What the pages should show: the agent's fake replies, and conditions over a page's state `s`."""

from __future__ import annotations

from examples.agent import FakeLLM
from tests.browser.conftest import REPLY_TOKENS

STREAMING = "s.messages.some((m) => m.role === 'assistant' && m.status === 'active' && m.text.length > 0)"
IDLE = "s.active === 0"


def reply(prompt: str, take: int = 1) -> str:
    """The example agent's whole reply to `prompt` (take 2 and on: a regenerate)."""
    return "".join(FakeLLM(REPLY_TOKENS, 0).words(prompt, take))


def complete(text: str) -> str:
    """A finished assistant message showing exactly `text`."""
    return f"s.messages.some((m) => m.role === 'assistant' && m.status === 'complete' && m.text === {text!r})"


def conversation(state: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["text"]) for m in state["messages"]]
