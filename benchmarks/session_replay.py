"""Client CPU per streamed token, replayed in one process: the session layer's cost without the noise.

    .venv/bin/python -m benchmarks.session_replay                  # 25 sessions, 2,000 tokens
    .venv/bin/python -m benchmarks.session_replay --profile 30     # and cProfile's top 30 functions

`benchmarks.session` measures latency on a shared two-core box, where a run's client CPU drifts
by ±20 %. This one measures only the receiving side's CPU, repeatably: a broker process and an
agent stream a reply once while a recorder connection keeps the raw WebSocket payloads it
receives; then those frames are fed, token by token, to `--sessions` fresh receivers in this
process, each token to every receiver in turn as a worker of `benchmarks.session` sees it
(caches go cold between sessions the same way). The path is the production one from the
WebSocket frame on (`Transport._frame`: msgpack, realtime dispatch, session, view update); only
the socket read is skipped. Two kinds of receiver, each on fresh clients:
bare      `channel.subscribe` with a counter (the transport floor),
sessions  ClientSession (UIMessage codec) with a view `update` listener that reads the reply.
Printed: µs of CPU per token per receiver, best of `--repeats`, and the ratio sessions / bare.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import uvloop
from websockets.frames import Frame, Opcode

from client import Message, Realtime
from client.codec import ui_message_codec
from client.realtime.transport import Transport
from client.session import ClientSession
from tests.support.broker import BrokerProcess

from .session import KEY, TIMEOUTS, stream_reply

RECORDED = "conversations:replay-a"  # the two names have one length: the msgpack frames stay valid
REPLAYED = "conversations:replay-b"
LIMIT = 120.0
PACE = 0.001  # s between tokens while recording


async def record(port: int, tokens: int) -> list[bytes]:
    """Every payload a subscriber receives from the prompt to the run's end, in order."""
    frames: list[bytes] = []
    async with Realtime(key=KEY, host="127.0.0.1", port=port, tls=False, client_id="recorder",
                        timeouts=TIMEOUTS) as recorder:
        transport = recorder.connection._transport
        assert transport is not None
        original = transport._frame

        def keep(frame: Frame) -> None:
            if frame.opcode is Opcode.BINARY:
                frames.append(bytes(frame.data))
            original(frame)

        transport._frame = keep  # type: ignore[method-assign]
        ended = asyncio.Event()
        channel = recorder.channels.get(RECORDED)
        await channel.subscribe(lambda m: ended.set() if m.name == "ai-run-end" else None)
        await stream_reply(port, RECORDED, tokens, lambda _: asyncio.sleep(PACE))  # a token per frame
        async with asyncio.timeout(LIMIT):
            await ended.wait()
    return [f.replace(RECORDED.encode(), REPLAYED.encode()) for f in frames]


def bare_receiver(client: Realtime) -> tuple[Callable[[Message], None], Callable[[], int]]:
    seen = [0]

    def on_message(message: Message) -> None:
        if isinstance(message.data, str) and message.data.startswith(" t"):
            seen[0] += 1
    return on_message, lambda: seen[0]


async def receivers(port: int, count: int, mode: str) -> tuple[list[Transport], list[Callable[[], int]],
                                                                list[Realtime], list[ClientSession]]:
    clients = [Realtime(key=KEY, host="127.0.0.1", port=port, tls=False, client_id=f"dev-{i}",
                        timeouts=TIMEOUTS) for i in range(count)]
    await asyncio.gather(*(c.connect() for c in clients))
    counters: list[Callable[[], int]] = []
    sessions: list[ClientSession] = []
    for client in clients:
        if mode == "bare":
            listener, counter = bare_receiver(client)
            await client.channels.get(REPLAYED).subscribe(listener)
            counters.append(counter)
        else:
            session = ClientSession.for_realtime(client, REPLAYED, ui_message_codec())
            await session.connect()
            sessions.append(session)
            counters.append(view_reader(session))
    transports = [c.connection._transport for c in clients]
    assert all(t is not None for t in transports)
    return [t for t in transports if t is not None], counters, clients, sessions


def view_reader(session: ClientSession) -> Callable[[], int]:
    """What a UI does on `update`: read the reply's text (here: count its tokens)."""
    state = {"tokens": 0, "scanned": 0}

    def on_update(_: object) -> None:
        messages = session.view.get_messages()
        if len(messages) < 2:
            return
        text = next((p["text"] for p in messages[-1].message["parts"] if p.get("type") == "text"), "")
        state["tokens"] += text.count(" t", max(0, state["scanned"] - 1))
        state["scanned"] = len(text)

    session.view.on("update", on_update)
    return lambda: state["tokens"]


def replay(frames: list[bytes], transports: list[Transport]) -> float:
    """Feed every frame to every receiver (frame-major, as a worker sees it); seconds of CPU."""
    wrapped = [Frame(Opcode.BINARY, f) for f in frames]
    start = time.process_time()
    for frame in wrapped:
        for transport in transports:
            transport._frame(frame)
    return time.process_time() - start


async def measure(port: int, frames: list[bytes], count: int, mode: str, tokens: int,
                  profile: cProfile.Profile | None) -> float:
    transports, counters, clients, sessions = await receivers(port, count, mode)
    try:
        if profile is not None:
            profile.enable()
        cpu = replay(frames, transports)
        if profile is not None:
            profile.disable()
        got = [c() for c in counters]
        if got != [tokens] * count:
            raise RuntimeError(f"{mode}: receivers saw {sorted(set(got))} tokens, expected {tokens}")
        return cpu / (tokens * count) * 1e6
    finally:
        for session in sessions:
            await session.close()
        await asyncio.gather(*(c.close() for c in clients))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(db=Path(tmp) / "replay.db", keys=[KEY]).start()
        try:
            frames = await record(broker.port, args.tokens)
            results: dict[str, list[float]] = {"bare": [], "sessions": []}
            for _ in range(args.repeats):
                for mode, values in results.items():
                    values.append(await measure(broker.port, frames, args.sessions, mode, args.tokens, None))
            for mode, values in results.items():
                print(f"{mode}: {args.sessions} receivers x {args.tokens} tokens ({len(frames)} frames): "
                      f"CPU {min(values):.1f} µs/token/receiver (best of {args.repeats}; all "
                      f"{', '.join(f'{v:.1f}' for v in values)})")
            print(f"sessions / bare: {min(results['sessions']) / min(results['bare']):.2f}x "
                  f"(+{min(results['sessions']) - min(results['bare']):.1f} µs)")
            if args.profile:
                profile = cProfile.Profile()
                await measure(broker.port, frames, args.sessions, "sessions", args.tokens, profile)
                pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
        finally:
            broker.stop()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=25, help="receivers (one worker's share)")
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N (sessions)")
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse()))
