"""A Python agent with a fake, deterministic LLM, served over HTTP: POST /invoke with an invocation body.

    python -m examples.agent [--broker-port 8080 --key KEY] [--listen 127.0.0.1:9000] [--tokens N --delay-ms D]
        [--web examples/web/dist]    # defaults: the broker of `make run` and its dev key

Any client (Python or the official JS SDK) sends a prompt on the session channel, then POSTs
`run.to_invocation()` — {"inputEventId", "sessionName"} — here. The agent answers {"runId",
"invocationId"} at once and streams the reply over the channel. Only the run's owner may cancel
it unless `--anyone-can-cancel` is given. With `--web DIR` it is also the web page's backend: a token
endpoint, the broker's address and the built page (see web_backend.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import h11

from client import AblyError, Realtime
from client.codec import AitError, ErrorCode, ui_message_codec
from client.session import (
    AgentRun,
    AgentSession,
    CancelRequest,
    Invocation,
    RunHooks,
    StreamResult,
)

try:
    from examples.broker_options import add_broker_options, parse_with_key
    from examples.web_backend import Response, WebBackend, json_response
except ImportError:  # run as a script: examples/ itself is on sys.path
    from broker_options import add_broker_options, parse_with_key  # type: ignore[no-redef]
    from web_backend import Response, WebBackend, json_response  # type: ignore[no-redef]

log = logging.getLogger("examples.agent")


@dataclass(frozen=True, slots=True)
class FakeLLM:
    """Streams `tokens` deterministic words, `delay` seconds apart, as Vercel UIMessage chunks. Asked again
    for the same conversation (a regenerate), it says which take this is, so the branches differ."""

    tokens: int = 20
    delay: float = 0.01
    takes: dict[tuple[str, ...], int] = field(default_factory=dict, compare=False)

    def words(self, prompt: str, take: int = 1) -> list[str]:
        head = f"You said: {prompt}." if prompt else "Hello."
        if take > 1:
            head += f" (take {take})"
        return [head, *(f" token-{i}" for i in range(1, self.tokens))][: max(1, self.tokens)]

    async def stream(self, prompt: str, take: int = 1) -> AsyncIterator[dict[str, Any]]:
        yield {"type": "start"}
        yield {"type": "start-step"}
        yield {"type": "text-start", "id": "t1"}
        for word in self.words(prompt, take):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield {"type": "text-delta", "id": "t1", "delta": word}
        yield {"type": "text-end", "id": "t1"}
        yield {"type": "finish-step"}
        yield {"type": "finish", "finishReason": "stop"}

    def reply(self, messages: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        conversation = tuple(str(m.get("id")) for m in messages)
        self.takes[conversation] = take = self.takes.get(conversation, 0) + 1
        return self.stream(last_user_text(messages), take)


class Model(Protocol):
    """What the agent asks of a model: its reply to the conversation so far, as UIMessage chunks."""

    def reply(self, messages: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]: ...


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return "".join(p.get("text", "") for p in message.get("parts", []) if p.get("type") == "text")
    return ""


async def owner_only(run: AgentRun, request: CancelRequest) -> bool:
    """Allow a cancel only from the run's owner (clientId); devices sharing a clientId are one owner."""
    return request.message.client_id == run.owner


class Agent:
    """Answers invocations. One AgentSession per channel, shared by that channel's runs and kept for the
    agent's lifetime; the agent is present on each channel, with status "working" while it runs."""

    def __init__(self, client: Realtime, llm: Model, *, owner_only_cancel: bool = True) -> None:
        self.client = client
        self.llm = llm
        self.owner_only_cancel = owner_only_cancel
        self.codec = ui_message_codec()
        self.sessions: dict[str, AgentSession] = {}
        self.active: dict[str, int] = {}
        self.tasks: set[asyncio.Task[StreamResult]] = set()
        self.on_result: Callable[[AgentRun, StreamResult], None] | None = None
        self.cancel_decisions: asyncio.Queue[tuple[str, str | None, bool]] = asyncio.Queue()
        self._lock = asyncio.Lock()

    async def session_for(self, name: str) -> AgentSession:
        async with self._lock:
            session = self.sessions.get(name)
            if session is None:
                session = AgentSession.for_realtime(self.client, name, self.codec)
                await session.connect()
                self.sessions[name] = session
                self.active[name] = 0
                await self._presence(session, "enter", "idle")
            return session

    async def invoke(self, body: dict[str, Any]) -> dict[str, str]:
        invocation = Invocation.from_json(body)
        session = await self.session_for(invocation.session_name)
        run: AgentRun | None = None

        async def authorise(request: CancelRequest) -> bool:
            allowed = run is not None and (not self.owner_only_cancel or await owner_only(run, request))
            log.info("cancel of run %s by %s: %s", request.run_id, request.message.client_id,
                     "accepted" if allowed else "refused")
            self.cancel_decisions.put_nowait((request.run_id, request.message.client_id, allowed))
            return allowed

        run = session.create_run(invocation, hooks=RunHooks(on_cancel=authorise))
        task = asyncio.ensure_future(self._work(session, run))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return {"runId": run.run_id, "invocationId": run.invocation_id}

    async def _work(self, session: AgentSession, run: AgentRun) -> StreamResult:
        name = run.invocation.session_name
        result = StreamResult("complete")
        self.active[name] += 1
        if self.active[name] == 1:
            await self._presence(session, "set_status", "working")
        try:
            await run.page_until_located()
            await run.start()
            while run.has_input():
                result = await run.pipe(self.llm.reply(run.view.messages()))
                if result.reason != "complete":
                    break
            if run.abort_signal.aborted:  # cancelled, possibly before producing anything
                result = StreamResult("cancelled")
            error = AitError(ErrorCode.STREAM_ERROR, 500, str(result.error)) if result.reason == "error" else None
            await run.end(result.reason, error)
        except Exception as exc:  # e.g. the trigger never showed up: nothing was published for this run
            log.exception("run %s failed", run.run_id)
            result = StreamResult("error", exc)
        finally:
            self.active[name] -= 1
            if self.active[name] == 0:
                await self._presence(session, "set_status", "idle")
        if self.on_result is not None:
            self.on_result(run, result)
        return result

    @staticmethod
    async def _presence(session: AgentSession, action: str, status: str) -> None:
        """Presence is a courtesy: a broker or key without it must not stop the agent answering."""
        try:
            if action == "enter":
                await session.participants.enter(role="agent", status=status)
            else:
                await session.participants.set_status(status)
        except AblyError as exc:
            log.warning("presence %s failed: %s", action, exc)

    async def close(self) -> None:
        """Cancel what is still running (ai-run-end{cancelled}) and leave every channel."""
        for session in self.sessions.values():
            await session.end()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.sessions.clear()


async def read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> tuple[h11.Request | None, bytes]:
    """The next request and its body off an HTTP/1.1 connection (None: the peer closed first)."""
    request: h11.Request | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return request, body


class HttpServer:
    """The smallest HTTP/1.1 server that serves `POST /invoke` (one request per connection), and the web
    backend's GETs when there is one."""

    def __init__(self, agent: Agent, web: WebBackend | None = None) -> None:
        self.agent = agent
        self.web = web
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            async with asyncio.timeout(10):
                request, body = await read_request(conn, reader)
            status, content_type, payload = await self._respond(request, body)
        except (TimeoutError, h11.RemoteProtocolError) as exc:
            status, content_type, payload = json_response(400, {"error": str(exc)})
        writer.write(conn.send(h11.Response(status_code=status, headers=[
            ("content-type", content_type), ("content-length", str(len(payload))), ("connection", "close"),
            ("cache-control", "no-store")])))
        writer.write(conn.send(h11.Data(data=payload)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        writer.close()

    async def _respond(self, request: h11.Request | None, body: bytes) -> Response:
        if request is not None and request.method == b"GET" and self.web is not None:
            return self.web.respond(request.target.decode("latin-1"))
        if request is None or request.method != b"POST" or request.target != b"/invoke":
            return json_response(404, {"error": "POST /invoke"})
        try:
            return json_response(200, await self.agent.invoke(json.loads(body or b"{}")))
        except (ValueError, AitError) as exc:
            return json_response(400, {"error": str(exc)})


async def serve(args: argparse.Namespace, llm: Model | None = None) -> None:
    """Serve until SIGINT/SIGTERM; the model is the fake one unless another is given."""
    host, port = args.listen.rsplit(":", 1)
    client = Realtime(key=args.key, host=args.broker_host, port=args.broker_port, tls=False, client_id="agent")
    await client.connect()
    agent = Agent(client, llm or FakeLLM(args.tokens, args.delay_ms / 1000),
                  owner_only_cancel=not args.anyone_can_cancel)
    web = WebBackend(args.key, args.public_broker_port or args.broker_port, Path(args.web)) if args.web else None
    server = HttpServer(agent, web)
    bound = await server.start(host, int(port))
    print(f"agent listening on http://{host}:{bound}/invoke", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()
    await agent.close()
    await client.close()


def broker_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every example agent takes: where the broker is and where to listen."""
    add_broker_options(parser)
    parser.add_argument("--listen", default="127.0.0.1:9000", help="host:port for POST /invoke (port 0: any)")
    parser.add_argument("--anyone-can-cancel", action="store_true", help="accept cancels from any client")
    parser.add_argument("--web", metavar="DIR", help="also serve the page's backend: tokens, config, the built page")
    parser.add_argument("--public-broker-port", type=int, help="the broker port pages are told (default --broker-port)")
    parser.add_argument("--log-level", default="warning")
    return parser


def main() -> None:
    parser = broker_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--tokens", type=int, default=20, help="words in each fake reply")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="pause before each word")
    args = parse_with_key(parser)
    logging.basicConfig(level=args.log_level.upper())
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
