"""AI session benchmark: one agent streaming a long reply to many client sessions, and a late joiner.

    .venv/bin/python -m benchmarks.session                      # both scenarios, default sizes
    .venv/bin/python -m benchmarks.session --scenarios stream --sessions 50 --tokens 2000 --rate 200
    .venv/bin/python -m benchmarks.session --help

stream: a broker process; `--sessions` ClientSessions (UIMessage codec, one realtime connection
    each) spread over `--workers` processes; a user device sends the prompt and leaves; the agent
    (AgentSession, in this process, no echo) finds the prompt in history, as an agent invoked over
    HTTP does, and streams a `--tokens`-token reply through `run.pipe()` at `--rate` tokens/s (0:
    as fast as it can). Each token's latency is from the agent yielding it to a client view's
    `update` showing it (CLOCK_MONOTONIC, one host). Reported: tokens/s delivered (tokens ×
    sessions over the time from the first write to the last delivery), the client processes'
    CPU per token per session, and p50/p99/max token latency. Baseline, same run, fresh broker:
    the same stream to as many bare realtime clients (channel.subscribe, no session layer), so
    the ratio shows what the session layer adds on this machine at this moment.
late: a channel holding a `--turns`-turn conversation (2 × turns messages) written with the real
    encoders; a fresh device connects and `view.load_older(--window)`. Reported: connect, load and
    total time to render the last `--window` messages.
Only 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import uvloop

from client import Message, MessageAction, PublishResult, Realtime, Timeouts, UpdateDeleteResult
from client.codec import EncoderOptions, WriteOptions, ui_message_codec
from client.codec import headers as h
from client.session import AgentSession, ClientSession, RunHooks
from client.session.headers import (
    lifecycle_headers,
    new_id,
    transport_headers,
    transport_message,
)
from tests.support.broker import BrokerProcess

KEY = "bench.root:benchsecretbenchsecret"
CHANNEL = "conversations:bench"
TIMEOUTS = Timeouts(request=20.0, publish=60.0, connect=20.0, http=20.0)
LIMIT = 300.0  # no phase may take longer


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class TokenCounter:
    """Tokens (" t<i>") visible in a session's reply, counted incrementally."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.scanned = 0
        self.count = 0

    def __call__(self) -> int:
        messages = self.session.view.get_messages()
        if len(messages) < 2:
            return 0
        text = next((p["text"] for p in messages[-1].message["parts"] if p.get("type") == "text"), "")
        self.count += text.count(" t", max(0, self.scanned - 1))
        self.scanned = len(text)
        return self.count


# --- worker process: client sessions -------------------------------------------------------

async def worker(port: int, first: int, count: int, mode: str, tokens: int) -> None:
    """Run `count` client sessions (or, mode "bare", plain channel subscribers); print "ready",
    then each one's [token, seen ns] pairs and the process's CPU time while streaming."""
    clients = [Realtime(key=KEY, host="127.0.0.1", port=port, tls=False, client_id=f"dev-{first + i}",
                        timeouts=TIMEOUTS) for i in range(count)]
    await asyncio.gather(*(c.connect() for c in clients))
    if mode == "bare":
        await bare_subscribers(clients, tokens)
    else:
        await session_subscribers(clients)
    await asyncio.gather(*(c.close() for c in clients))


async def report(seen: list[list[tuple[int, int]]], done: list[asyncio.Event]) -> None:
    # Start-up objects (imports, connections, sessions) go to the permanent generation, as a
    # latency-sensitive process does once it is set up: the first full collection would otherwise
    # come mid-stream and walk them all (~16 ms in each worker).
    gc.collect()
    gc.freeze()
    print(json.dumps({"ready": True}), flush=True)
    cpu = time.process_time()
    async with asyncio.timeout(LIMIT):
        await asyncio.gather(*(e.wait() for e in done))
    print(json.dumps({"seen": seen, "cpu_s": time.process_time() - cpu}), flush=True)


async def bare_subscribers(clients: list[Realtime], tokens: int) -> None:
    """The baseline: the same appends to realtime clients with no session layer above them."""
    seen: list[list[tuple[int, int]]] = [[] for _ in clients]
    done = [asyncio.Event() for _ in clients]

    def listener(i: int) -> Callable[[Message], None]:
        def on_message(message: Message) -> None:
            if message.action is MessageAction.APPEND and isinstance(message.data, str) \
                    and message.data.startswith(" t"):
                seen[i].append((int(message.data[2:]), time.monotonic_ns()))
                if len(seen[i]) == tokens:
                    done[i].set()
        return on_message

    for i, client in enumerate(clients):
        await client.channels.get(CHANNEL).subscribe(listener(i))
    await report(seen, done)


async def session_subscribers(clients: list[Realtime]) -> None:
    sessions = [ClientSession.for_realtime(c, CHANNEL, ui_message_codec()) for c in clients]
    await asyncio.gather(*(s.connect() for s in sessions))
    seen: list[list[tuple[int, int]]] = [[] for _ in sessions]
    done = [asyncio.Event() for _ in sessions]

    def watch(i: int, session: ClientSession) -> None:
        counter = TokenCounter(session)

        def on_update(_: object) -> None:
            now = time.monotonic_ns()
            have, total = len(seen[i]), counter()
            seen[i].extend((j, now) for j in range(have, total))

        def on_run(event: Any) -> None:
            if event.type == "end":
                on_update(None)
                done[i].set()

        session.view.on("update", on_update)
        session.view.on("run", on_run)

    for i, session in enumerate(sessions):
        watch(i, session)
    await report(seen, done)
    for session in sessions:
        await session.close()


# --- scenario: stream ------------------------------------------------------------------------

async def stream_reply(port: int, channel: str, tokens: int, before_token: Callable[[int], Awaitable[None]]) -> None:
    """A user device sends the prompt and leaves; then the agent streams a `tokens`-token reply,
    awaiting `before_token(i)` before yielding token i (pacing, timestamps)."""
    async with Realtime(key=KEY, host="127.0.0.1", port=port, tls=False, client_id="user",
                        timeouts=TIMEOUTS) as user_client, \
            ClientSession.for_realtime(user_client, channel, ui_message_codec()) as user:
        prompt = await user.view.send(user.codec.create_user_message(
            {"id": "bench", "role": "user", "parts": [{"type": "text", "text": "go"}]}))
        invocation = prompt.to_invocation()
    # The prompt's device has sent its message (measured devices are elsewhere), and this agent
    # never reads its own output back, so its connection asks for no echo; it still hears
    # cancels and steering from the devices.
    async with Realtime(key=KEY, host="127.0.0.1", port=port, tls=False, client_id="agent",
                        echo_messages=False, timeouts=TIMEOUTS) as agent_client:
        agent = AgentSession.for_realtime(agent_client, channel, ui_message_codec())
        await agent.connect()
        run = agent.create_run(invocation, hooks=RunHooks())
        await run.page_until_located()  # the prompt came before the agent attached, as over HTTP
        await run.start()

        async def llm() -> Any:
            yield {"type": "start"}
            yield {"type": "start-step"}
            yield {"type": "text-start", "id": "t"}
            for i in range(tokens):
                await before_token(i)
                yield {"type": "text-delta", "id": "t", "delta": f" t{i}"}
            yield {"type": "text-end", "id": "t"}
            yield {"type": "finish-step"}
            yield {"type": "finish"}

        result = await run.pipe(llm())
        await run.end(result.reason)
        await agent.detach()


async def stream_scenario(broker: BrokerProcess, sessions: int, workers: int, tokens: int, rate: float,
                          mode: str = "sessions") -> dict[str, Any]:
    per = [sessions // workers + (1 if i < sessions % workers else 0) for i in range(workers)]
    procs = []
    first = 0
    for n in per:
        procs.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.session", "--worker", str(broker.port), str(first), str(n), mode,
            str(tokens), stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parents[1], limit=2**26))
        first += n
    try:
        async with asyncio.timeout(LIMIT):
            for p in procs:
                assert p.stdout is not None
                assert json.loads(await p.stdout.readline())["ready"]
        written: list[int] = []
        start = 0.0

        async def paced(i: int) -> None:
            nonlocal start
            if i == 0:
                start = time.monotonic()
            elif rate:
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            written.append(time.monotonic_ns())

        await stream_reply(broker.port, CHANNEL, tokens, paced)
        seen: list[list[list[int]]] = []
        cpu = 0.0
        async with asyncio.timeout(LIMIT):
            for p in procs:
                assert p.stdout is not None
                report = json.loads(await p.stdout.readline())
                seen.extend(report["seen"])
                cpu += report["cpu_s"]
                await p.wait()
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    latencies = [(t - written[j]) / 1e6 for per_session in seen for j, t in per_session]
    delivered = sum(len(s) for s in seen)
    last = max(t for s in seen for _, t in s)
    return {"sessions": sessions, "tokens": tokens, "rate": rate, "delivered": delivered,
            "expected": sessions * tokens, "tokens_per_s": delivered / ((last - written[0]) / 1e9),
            "cpu_us_per_token": cpu / delivered * 1e6, "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99), "max_ms": max(latencies)}


# --- scenario: late joiner -------------------------------------------------------------------

class Recorder:
    """A ChannelWriter that keeps what an encoder would publish (so the benchmark can batch it)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def publish(self, messages: Message | Sequence[Message]) -> PublishResult:
        batch = [messages] if isinstance(messages, Message) else list(messages)
        self.messages.extend(batch)
        return PublishResult([new_id() for _ in batch])

    async def append_message(self, message: Message) -> UpdateDeleteResult:
        raise AssertionError("the benchmark closes streams itself")

    async def update_message(self, message: Message) -> UpdateDeleteResult:
        raise AssertionError("the benchmark closes streams itself")


async def turn_wires(turn: int, parent: str | None) -> tuple[list[Message], Message, str]:
    """One prompt/reply turn as the real encoders write it: the messages to publish in order, the
    closing append of the reply's text stream (its serial filled in once published), and the reply's id."""
    codec = ui_message_codec()
    prompt_id, run_id, reply_id, invocation = new_id(), new_id(), new_id(), new_id()
    recorder = Recorder()
    await codec.create_encoder(recorder).publish_input(
        codec.create_user_message({"id": f"m{turn}", "role": "user",
                                   "parts": [{"type": "text", "text": f"question {turn}"}]}),
        WriteOptions(transport_headers(role="user", codec_message_id=prompt_id, run_client_id="user", parent=parent,
                                       event_id=new_id()), prompt_id))
    life: dict[str, Any] = {"run_id": run_id, "run_client_id": "user", "invocation_id": invocation,
                            "input_client_id": "user", "input_codec_message_id": prompt_id}
    recorder.messages.append(transport_message(h.RUN_START, lifecycle_headers(parent=prompt_id, **life)))
    agent = codec.create_encoder(recorder, EncoderOptions(transport_headers(
        role="assistant", run_id=run_id, codec_message_id=reply_id, run_client_id="user", parent=prompt_id,
        invocation_id=invocation, input_client_id="user", input_codec_message_id=prompt_id), None, reply_id))
    for chunk in ({"type": "start"}, {"type": "start-step"}, {"type": "text-start", "id": "t"},
                  {"type": "finish-step"}, {"type": "finish"}):
        await agent.publish_output(chunk)
    recorder.messages.append(transport_message(h.RUN_END, lifecycle_headers(reason="complete", **life)))
    ai = recorder.messages[STREAM_INDEX].extras["ai"]  # type: ignore[index]
    closing = Message(data=f"answer {turn}: " + " ".join(f"w{i}" for i in range(20)),
                      extras={"ai": {"transport": {**ai["transport"], h.STATUS: "complete"}, "codec": ai["codec"]}})
    return recorder.messages, closing, reply_id


STREAM_INDEX = 4  # prompt, run-start, start, start-step, then the text stream's create


async def write_conversation(client: Realtime, turns: int) -> None:
    """Publish `turns` turns: one batch per turn, pipelined on one connection (so serial order is
    turn order), each followed by the append that completes its reply's text."""
    channel = client.channels.get(CHANNEL)
    await channel.attach()
    in_flight: set[asyncio.Future[None]] = set()

    async def publish(batch: list[Message], closing: Message) -> None:
        result = await channel.publish(batch)
        closing.serial = result.serials[STREAM_INDEX]
        await channel.append_message(closing)

    parent: str | None = None
    for turn in range(turns):
        batch, closing, parent = await turn_wires(turn, parent)
        task = asyncio.ensure_future(publish(batch, closing))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        if len(in_flight) >= 200:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*in_flight)


async def late_scenario(broker: BrokerProcess, turns: int, window: int, repeats: int) -> dict[str, Any]:
    t0 = time.monotonic()
    async with Realtime(key=KEY, host="127.0.0.1", port=broker.port, tls=False, client_id="writer",
                        timeouts=TIMEOUTS) as writer:
        async with asyncio.timeout(LIMIT):
            await write_conversation(writer, turns)
    written = time.monotonic() - t0
    samples = []
    for _ in range(repeats):
        start = time.monotonic()
        async with Realtime(key=KEY, host="127.0.0.1", port=broker.port, tls=False, client_id="joiner",
                            timeouts=TIMEOUTS) as client:
            session = ClientSession.for_realtime(client, CHANNEL, ui_message_codec())
            await session.connect()
            connected = time.monotonic()
            shown = await session.view.load_older(window)
            loaded = time.monotonic()
            assert len(shown) == window and session.view.messages()[-1]["parts"][-1]["text"].startswith(
                f"answer {turns - 1}:"), session.view.messages()[-1]
            await session.close()
        samples.append(((connected - start) * 1000, (loaded - connected) * 1000, (loaded - start) * 1000))
    return {"turns": turns, "messages": 2 * turns, "window": window, "write_s": written,
            "connect_ms": statistics.median(s[0] for s in samples), "load_ms": statistics.median(s[1] for s in samples),
            "total_ms": statistics.median(s[2] for s in samples), "repeats": repeats}


async def main(args: argparse.Namespace) -> None:
    wanted = set(args.scenarios.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        if "stream" in wanted:
            results = {}
            for mode in ("bare", "sessions"):  # the baseline first, each on a fresh broker
                broker = BrokerProcess(db=Path(tmp) / f"stream-{mode}.db", engine=args.engine, keys=[KEY]).start()
                try:
                    results[mode] = await stream_scenario(broker, args.sessions, args.workers, args.tokens,
                                                          args.rate, mode)
                finally:
                    broker.stop()
            for mode, result in results.items():
                print(f"stream ({mode}): {result['sessions']} x {result['tokens']} tokens at "
                      f"{result['rate'] or 'max'} tok/s: delivered {result['delivered']}/{result['expected']}, "
                      f"{result['tokens_per_s']:.0f} tokens/s, client CPU {result['cpu_us_per_token']:.0f} "
                      f"µs/token/session; latency p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
                      f"max {result['max_ms']:.2f} ms")
            bare, full = results["bare"], results["sessions"]
            print(f"stream: sessions vs bare realtime clients in this run: p50 {full['p50_ms'] / bare['p50_ms']:.2f}x, "
                  f"p99 {full['p99_ms'] / bare['p99_ms']:.2f}x (+{full['p99_ms'] - bare['p99_ms']:.2f} ms), "
                  f"client CPU {full['cpu_us_per_token'] / bare['cpu_us_per_token']:.2f}x")
        if "late" in wanted:
            broker = BrokerProcess(db=Path(tmp) / "late.db", engine=args.engine, keys=[KEY]).start()
            try:
                result = await late_scenario(broker, args.turns, args.window, args.repeats)
            finally:
                broker.stop()
            print(f"late: {result['messages']}-message session (written in {result['write_s']:.1f}s); last "
                  f"{result['window']} messages: connect {result['connect_ms']:.0f} ms + load "
                  f"{result['load_ms']:.0f} ms = {result['total_ms']:.0f} ms (median of {result['repeats']})")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="stream,late")
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "memory"))
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="tokens/s (0: as fast as possible)")
    parser.add_argument("--turns", type=int, default=5000)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--worker":
        uvloop.run(worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])))
    else:
        uvloop.run(main(parse()))
