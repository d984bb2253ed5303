"""Bridges from the official LLM SDKs to a session: their streams in as UIMessage chunks (for
`AgentRun.pipe`), and the session's conversation out as the messages each SDK expects next.

The adapters read the SDKs' typed events by attribute, so they need neither SDK imported; install
them with the `llm` extra."""

from __future__ import annotations

from .anthropic_messages import anthropic_messages, anthropic_system, anthropic_ui_chunks
from .ui import ModelStreamError, ToolRunner
from .loop import tool_loop
from .openai_chat import chat_messages, chat_ui_chunks
from .openai_responses import responses_input, responses_ui_chunks

__all__ = ["ModelStreamError", "ToolRunner", "anthropic_messages", "anthropic_system", "anthropic_ui_chunks", "chat_messages",
           "chat_ui_chunks", "responses_input", "responses_ui_chunks", "tool_loop"]
