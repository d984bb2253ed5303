"""A scripted model for the example agent: each call replays the next typed SDK stream through the
real adapter, and records the request it would have sent (built with the adapter's converter)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from client.llm import (
    anthropic_messages,
    anthropic_ui_chunks,
    chat_messages,
    chat_ui_chunks,
    responses_input,
    responses_ui_chunks,
    tool_loop,
)
from tests.llm.streams import OUTPUT, SCRIPTS, replay

ADAPTERS: dict[str, tuple[Callable[..., AsyncIterator[dict[str, Any]]], Callable[[list[dict[str, Any]]], Any]]] = {
    "chat": (chat_ui_chunks, chat_messages),
    "responses": (responses_ui_chunks, responses_input),
    "anthropic": (anthropic_ui_chunks, anthropic_messages),
}


async def get_weather(name: str, args: Any) -> Any:
    if name != "get_weather" or args != {"city": "Paris"}:
        raise ValueError(f"unexpected call {name}({args!r})")
    return OUTPUT


@dataclass
class ScriptedModel:
    kind: str
    requests: list[Any] = field(default_factory=list)
    scripts: list[Callable[[], AsyncIterable[Any]]] | None = None  # default: the tool call, then the answer

    def reply(self, messages: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        adapter, convert = ADAPTERS[self.kind]
        scripts = iter(self.scripts or [lambda f=f: replay(f()) for f in SCRIPTS[self.kind]])

        async def call(history: list[dict[str, Any]]) -> AsyncIterable[Any]:
            self.requests.append(convert(history))
            return next(scripts)()

        return tool_loop(call, adapter, messages, run_tool=get_weather)
