"""The example agent on a real model: any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama,
LM Studio, OpenRouter...) through the official `openai` SDK and `client.llm`'s adapter.

    pip install -e '.[llm]'
    python -m examples.openai_agent --broker-port 8080 --key KEY --base-url http://127.0.0.1:11434/v1 \\
        --model llama3.2 [--api chat|responses] [--system TEXT] [--clock-tool]

It serves POST /invoke exactly as examples/agent.py does (which keeps its fake, offline model); each
reply is streamed from the endpoint into the session, and the next call is built from the session's
conversation, so every device's edits, regenerations and tool results are what the model sees.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openai import AsyncOpenAI

from client.llm import chat_messages, chat_ui_chunks, responses_input, responses_ui_chunks, tool_loop
from examples.agent import broker_arguments, serve

CLOCK = {"name": "utc_now", "description": "The current date and time in UTC, ISO 8601.",
         "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}


async def run_clock(name: str, args: Any) -> str:
    if name != CLOCK["name"]:
        raise ValueError(f"no tool named {name!r}")
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class OpenAIModel:
    """A model behind an OpenAI-compatible API, as the example agent's `Model`."""

    client: AsyncOpenAI
    model: str
    api: str = "chat"
    system: str | None = None
    clock_tool: bool = False

    def reply(self, messages: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        adapter = chat_ui_chunks if self.api == "chat" else responses_ui_chunks
        return tool_loop(self._call, adapter, messages, run_tool=run_clock if self.clock_tool else None)

    async def _call(self, history: list[dict[str, Any]]) -> AsyncIterable[Any]:
        if self.api == "chat":
            tools = {"tools": [{"type": "function", "function": CLOCK}]} if self.clock_tool else {}
            return await self.client.chat.completions.create(
                model=self.model, messages=chat_messages(history, self.system), stream=True, **tools)
        tools = {"tools": [{"type": "function", **CLOCK}]} if self.clock_tool else {}
        instructions = {"instructions": self.system} if self.system else {}
        return await self.client.responses.create(model=self.model, input=responses_input(history), stream=True,
                                                  **instructions, **tools)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = broker_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"),
                        help="the OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1 (default: "
                             "$OPENAI_BASE_URL, else OpenAI's)")
    parser.add_argument("--model", required=True, help="the model name the endpoint serves")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY") or "unused",
                        help="default: $OPENAI_API_KEY (local servers mostly ignore it)")
    parser.add_argument("--api", choices=["chat", "responses"], default="chat",
                        help="Chat Completions (most compatible servers) or the Responses API")
    parser.add_argument("--system", help="a system prompt")
    parser.add_argument("--clock-tool", action="store_true", help="offer the model a `utc_now` tool")
    return parser.parse_args(argv)


def model_from(args: argparse.Namespace) -> OpenAIModel:
    client = AsyncOpenAI(base_url=args.base_url, api_key=args.api_key)
    return OpenAIModel(client, args.model, args.api, args.system, args.clock_tool)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=args.log_level.upper())
    asyncio.run(serve(args, model_from(args)))


if __name__ == "__main__":
    main()
