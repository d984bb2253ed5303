"""A tiny stand-in for an OpenAI-compatible server (a third-party API: we stub it, over real HTTP):
POST /v1/chat/completions answers each request with the next scripted stream as server-sent events,
and keeps the request bodies so a test can read what the agent asked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import h11
from openai.types.chat import ChatCompletionChunk

from examples.agent import read_request


class OpenAIStub:
    def __init__(self, scripts: list[Callable[[], list[ChatCompletionChunk]]]) -> None:
        self.scripts = list(scripts)
        self.requests: list[dict[str, Any]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:  # the SDK keeps connections alive: serve requests until the peer closes
            async with asyncio.timeout(30):
                request, body = await read_request(conn, reader)
            if request is None:
                writer.close()
                return
            writer.write(self._respond(conn, request, body))
            await writer.drain()
            if conn.our_state is h11.MUST_CLOSE:
                writer.close()
                return
            conn.start_next_cycle()

    def _respond(self, conn: h11.Connection, request: h11.Request, body: bytes) -> bytes:
        if request.method != b"POST" or request.target != b"/v1/chat/completions" or not self.scripts:
            payload = json.dumps({"error": {"message": "no such route", "type": "invalid_request_error"}}).encode()
            return (conn.send(h11.Response(status_code=404, headers=[
                ("content-type", "application/json"), ("content-length", str(len(payload)))]))
                + conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage()))
        self.requests.append(json.loads(body))
        events = b"".join(b"data: " + chunk.model_dump_json(exclude_unset=True).encode() + b"\n\n"
                          for chunk in self.scripts.pop(0)())
        events += b"data: [DONE]\n\n"
        return (conn.send(h11.Response(status_code=200, headers=[
            ("content-type", "text/event-stream"), ("content-length", str(len(events)))]))
            + conn.send(h11.Data(data=events)) + conn.send(h11.EndOfMessage()))
