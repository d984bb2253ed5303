"""Token streaming by appends against plain publishes of the same tokens, in one run.

An AI Transport agent streams a reply as one message: a create, then one `message.append` per
token naming the create's serial. This benchmark streams a `--tokens`-token reply that way to
`--subscribers` raw-protocol subscribers on a sqlite broker, and, as the baseline, publishes the
same tokens as plain messages. Every token carries the extras @ably/ai-transport 0.8.0 repeats
on every append (captured from a real run; `--bare` drops them). Three measurements:

  flat-out  the publisher keeps `--window` operations in flight (the SDK does not await appends):
            tokens/s from the first send to the last delivery at the last subscriber, and the
            append/publish cost ratio (target: appends cost at most 1.2x a plain publish)
  paced     `--rate` tokens/s for `--paced-tokens` tokens: send-to-delivery latency at every
            subscriber (target: p99 <= 2 ms at 100 tokens/s)
  storage   one streamed reply and the same reply published whole, on a fresh database:
            bytes the append parts take in sqlite against the final message size

Run from the repository root:  .venv/bin/python -m benchmarks.appends
Results: benchmarks/results/appends.md
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgpack
import uvloop

from broker.protocol.actions import Action

from .fanout import ServerProc, Worker, machine_notes
from .procstat import cpu_seconds
from .wsclient import WsClient, client_frame

KEY = "bench.root:benchsecretbenchsecret"
APPEND = 5
DEADLINE_S = 300.0
STALL_S = 10.0
_MESSAGE, _ACK, _NACK = int(Action.MESSAGE), int(Action.ACK), int(Action.NACK)
_CONNECTED, _ATTACHED = int(Action.CONNECTED), int(Action.ATTACHED)
_FATAL = {int(Action.ERROR), int(Action.DISCONNECTED), int(Action.DETACHED), int(Action.CLOSED)}

# The extras @ably/ai-transport 0.8.0 (OpenAI codec) put on every append of a streamed text
# part, as stored by the broker in tests/interop/test_ai_transport.py.
AI_EXTRAS: dict[str, Any] = {"ai": {
    "transport": {
        "role": "assistant", "codec-message-id": "b1d20d9d-01e4-438f-beec-8d09ef3a3e5b",
        "run-id": "4c562059-85e7-427e-a4b9-08cdc50752dc", "run-client-id": "alice",
        "parent": "7849e956-2203-476c-9dca-a681afa19f4b", "invocation-id": "e8d86713-28e3-4ce7-9dd3-8a0300ca85c5",
        "input-client-id": "alice", "input-codec-message-id": "7849e956-2203-476c-9dca-a681afa19f4b",
        "step-id": "e8d86713-28e3-4ce7-9dd3-8a0300ca85c5-step-0", "step-client-id": "alice",
        "stream": "true", "status": "streaming", "stream-id": "msg_reply:0",
        "step-start-serial": "01795608690380-000@slhkIyxE:000",
    },
    "codec": {"kind": "output_text", "item_id": "msg_reply", "output_index": "0", "content_index": "0",
              "part": '{"type":"output_text","text":"","annotations":[]}'},
}}


def token(seq: int) -> str:
    """A 5-character token whose first four characters name its position in the reply."""
    return f"{seq:04d} "


def seq_of(data: object) -> int:
    """The token's position, or -1 for anything else (the create, which has empty data)."""
    return int(data[:4]) if isinstance(data, str) and len(data) >= 4 and data[:4].isdigit() else -1


class Conn(WsClient):
    """Just enough Ably protocol (msgpack): CONNECTED, ATTACH per channel, MESSAGE, ACK/NACK."""

    def __init__(self, host: str, port: int, echo: bool = True) -> None:
        path = f"/?key={quote(KEY, safe='')}&format=msgpack&v=6" + ("" if echo else "&echo=false")
        super().__init__(host, port, path)
        loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[None] = loop.create_future()
        self._attaching: dict[str, asyncio.Future[None]] = {}

    async def attach(self, channel: str) -> None:
        await self.connected
        attached = self._attaching[channel] = asyncio.get_running_loop().create_future()
        self.write(client_frame(msgpack.packb({"action": int(Action.ATTACH), "channel": channel})))
        try:
            await attached
        finally:
            del self._attaching[channel]

    def on_message(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        pm = msgpack.unpackb(memoryview(data)[start:end])
        action = pm.get("action")
        if action == _MESSAGE:
            self.on_messages(pm.get("messages") or [], now_ns)
        elif action in (_ACK, _NACK):
            self.on_ack(pm, now_ns)
        elif action == _CONNECTED and not self.connected.done():
            self.connected.set_result(None)
        elif action == _ATTACHED and pm.get("channel") in self._attaching:
            self._attaching[pm["channel"]].set_result(None)
        elif action in _FATAL:
            failure = ConnectionError(f"action {action}: {pm.get('error')}")
            for fut in (self.connected, *self._attaching.values()):
                if not fut.done():
                    fut.set_exception(failure)

    def on_messages(self, messages: list[dict[str, Any]], now_ns: int) -> None:
        """Subscribers record deliveries."""

    def on_ack(self, pm: dict[str, Any], now_ns: int) -> None:
        """The publisher counts acknowledgements."""


class Subscriber(Conn):
    """Records when each token (by position) arrived; reset per measured run.

    While recording, a frame is only stamped and kept: decoding it at once would delay the
    next socket's callback, and with 50 sockets in one process the last subscriber's latency
    would mostly measure the load generator. Frames are decoded when the run is collected.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.recording = False
        self.frames: list[tuple[int, bytes]] = []
        self.arrived: list[int] = []
        self.count = 0
        self.duplicates = 0

    def reset(self, tokens: int) -> None:
        self.recording = False
        self.frames = []
        self.arrived = [0] * tokens
        self.count = 0
        self.duplicates = 0

    def on_message(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        if self.recording:
            self.frames.append((now_ns, bytes(data[start:end])))
        else:
            super().on_message(data, start, end, now_ns)

    def settle(self) -> None:
        """Decode what was recorded since the last call."""
        frames, self.frames = self.frames, []
        for now_ns, frame in frames:
            super().on_message(frame, 0, len(frame), now_ns)

    def on_messages(self, messages: list[dict[str, Any]], now_ns: int) -> None:
        for m in messages:
            seq = seq_of(m.get("data"))
            if 0 <= seq < len(self.arrived):
                if self.arrived[seq]:
                    self.duplicates += 1
                else:
                    self.arrived[seq] = now_ns
                    self.count += 1


async def _subscribers_main(pipe: Connection, spec: tuple[str, int, int]) -> None:
    """Commands: ("attach", channel, tokens) -> ready; ("collect",) -> arrival times; ("close",)."""
    host, port, count = spec
    loop = asyncio.get_running_loop()
    subs = [Subscriber(host, port) for _ in range(count)]
    for sub in subs:
        await asyncio.wait_for(loop.create_connection(lambda s=sub: s, host, port), 10)  # type: ignore[misc]
    await asyncio.wait_for(asyncio.gather(*(s.connected for s in subs)), 10)
    pipe.send(("ready", {"subscribers": count}))
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "attach":
            _, channel, tokens = command
            for sub in subs:
                sub.reset(tokens)
            await asyncio.wait_for(asyncio.gather(*(s.attach(channel) for s in subs)), 10)
            for sub in subs:
                sub.recording = True
            pipe.send(("attached", {"channel": channel}))
        elif command[0] == "collect":
            tokens = len(subs[0].arrived)
            last, quiet_since = -1, time.monotonic()
            while any(s.count < tokens for s in subs) and time.monotonic() - quiet_since < STALL_S:
                await asyncio.sleep(0.05)
                for sub in subs:
                    sub.settle()
                total = sum(s.count for s in subs)
                if total != last:
                    last, quiet_since = total, time.monotonic()
            pipe.send(("arrivals", {"arrived": [s.arrived for s in subs],
                                    "duplicates": sum(s.duplicates for s in subs)}))
        else:
            break
    for sub in subs:
        sub.close()


def subscribers_process(pipe: Connection, spec: tuple[str, int, int]) -> None:
    uvloop.run(_subscribers_main(pipe, spec))


class Streamer(Conn):
    """The agent: streams tokens as appends to one message, or as plain publishes."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, echo=False)
        self.next_serial = 0
        self.in_flight = 0
        self.acked = 0
        self.nacks: list[str] = []
        self.first_serial: str | None = None
        self.drained = asyncio.Event()
        self.acked_ns = 0
        self.acked_at: dict[int, int] = {}
        self.window = 1

    def on_ack(self, pm: dict[str, Any], now_ns: int) -> None:
        count = int(pm.get("count", 1))
        first = int(pm["msgSerial"])
        for serial in range(first, first + count):
            self.acked_at[serial] = now_ns
        self.in_flight -= count
        self.acked += count
        self.acked_ns = now_ns
        if pm["action"] == _NACK:
            self.nacks.append(str(pm.get("error")))
        elif self.first_serial is None:
            self.first_serial = pm["res"][0]["serials"][0]
        if self.in_flight < self.window:
            self.drained.set()

    def send(self, channel: str, message: dict[str, Any]) -> None:
        pm = {"action": _MESSAGE, "channel": channel, "msgSerial": self.next_serial, "messages": [message]}
        self.next_serial += 1
        self.in_flight += 1
        self.write(client_frame(msgpack.packb(pm)))

    async def settle(self) -> None:
        """Wait until every operation sent so far is acknowledged."""
        self.window = 1
        while self.in_flight:
            self.drained.clear()
            await asyncio.wait_for(self.drained.wait(), 30)

    async def create(self, channel: str, extras: dict[str, Any] | None) -> str:
        self.first_serial = None
        self.send(channel, {"name": "ai-output", "data": "", **({"extras": extras} if extras else {})})
        await self.settle()
        if self.first_serial is None:
            raise RuntimeError(f"the create was refused: {self.nacks}")
        return self.first_serial

    async def stream(self, channel: str, mode: str, tokens: int, extras: dict[str, Any] | None, window: int,
                     rate: float, target: str | None) -> tuple[list[int], list[int]]:
        """Send every token (flat-out within `window`, or paced at `rate`/s): (send times, ACK times)."""
        sent = [0] * tokens
        first_serial = self.next_serial
        self.acked_at = {}
        self.window = window
        began = time.monotonic_ns()
        for seq in range(tokens):
            if rate > 0:
                wake = began + int(seq * 1e9 / rate)
                delay = (wake - time.monotonic_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
            while self.in_flight >= window:
                self.drained.clear()
                await asyncio.wait_for(self.drained.wait(), 30)
            message: dict[str, Any] = {"data": token(seq)}
            if extras:
                message["extras"] = extras
            if mode == "append":
                message.update(action=APPEND, serial=target)
            else:
                message["name"] = "ai-output"
            sent[seq] = time.monotonic_ns()
            self.send(channel, message)
        await self.settle()
        return sent, [self.acked_at[first_serial + seq] for seq in range(tokens)]


@dataclass
class Run:
    mode: str
    tokens: int
    seconds: float
    ack_seconds: float
    latencies_ms: list[float]
    ack_ms: list[float]
    missing: int
    duplicates: int
    broker_cpu_s: float

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds

    @property
    def cpu_us(self) -> float:
        """Broker CPU per token: the cost of a token, unlike rates, barely moved by background load."""
        return self.broker_cpu_s / self.tokens * 1e6

    def pct(self, q: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.latencies_ms if values is None else values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def line(self) -> str:
        return (f"{self.mode:7s} {self.rate:6.0f} tokens/s to all ({self.seconds:6.3f} s, ACKs {self.ack_seconds:6.3f} s)"
                f"  broker CPU {self.cpu_us:5.0f} us/token"
                f"  delivery p50 {self.pct(0.5):6.2f} p99 {self.pct(0.99):6.2f} max {max(self.latencies_ms, default=float('nan')):6.2f} ms"
                f"  ACK p50 {self.pct(0.5, self.ack_ms):6.2f} p99 {self.pct(0.99, self.ack_ms):6.2f} ms"
                f"  missing {self.missing} dup {self.duplicates}")


async def measure(streamer: Streamer, subs: Worker, broker_pid: int, channel: str, mode: str,
                  args: argparse.Namespace, tokens: int, rate: float) -> Run:
    subs.send("attach", channel, tokens)
    await asyncio.get_running_loop().run_in_executor(None, subs.expect, "attached", 30)
    extras = None if args.bare else AI_EXTRAS
    target = await streamer.create(channel, extras) if mode == "append" else None
    cpu_before = sum(cpu_seconds(broker_pid))
    began = time.monotonic_ns()
    sent, acked_at = await streamer.stream(channel, mode, tokens, extras, args.window, rate, target)
    acked = streamer.acked_ns
    subs.send("collect")
    report = await asyncio.get_running_loop().run_in_executor(None, subs.expect, "arrivals", STALL_S + 60)
    broker_cpu = sum(cpu_seconds(broker_pid)) - cpu_before
    arrived: list[list[int]] = report["arrived"]
    latencies = [(t - sent[i]) / 1e6 for per_sub in arrived for i, t in enumerate(per_sub) if t]
    last = max((t for per_sub in arrived for t in per_sub), default=began)
    missing = sum(1 for per_sub in arrived for t in per_sub if not t)
    if streamer.nacks:
        raise RuntimeError(f"{mode}: NACKs {streamer.nacks[:3]}")
    ack_ms = [(a - t) / 1e6 for a, t in zip(acked_at, sent)]
    return Run(mode, tokens, (last - began) / 1e9, (acked - began) / 1e9, latencies, ack_ms, missing,
               report["duplicates"], broker_cpu)


async def storage(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Stream one reply and publish the same reply whole on a fresh database; measure the parts."""
    server = ServerProc("tether", workdir, KEY, "warning").start()
    extras = None if args.bare else AI_EXTRAS
    try:
        loop = asyncio.get_running_loop()
        streamer = Streamer("127.0.0.1", server.port)
        await asyncio.wait_for(loop.create_connection(lambda: streamer, "127.0.0.1", server.port), 10)
        await asyncio.wait_for(streamer.connected, 10)
        target = await streamer.create("store:stream", extras)
        await streamer.stream("store:stream", "append", args.tokens, extras, args.window, 0, target)
        whole = {"name": "ai-output", "data": "".join(token(i) for i in range(args.tokens)),
                 **({"extras": extras} if extras else {})}
        streamer.send("store:whole", whole)
        await streamer.settle()
        streamer.close()
    finally:
        server.stop()
    db = workdir / f"tether-{server.port}.db"
    with sqlite3.connect(db) as conn:
        pages = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        rows, body = conn.execute("SELECT COUNT(*), SUM(LENGTH(body)) FROM parts").fetchone()
        created = dict(conn.execute("SELECT channel, LENGTH(body) FROM messages").fetchall())
    return {
        "appends": args.tokens, "final_data": args.tokens * len(token(0)), "part_rows": rows, "part_bodies": body,
        "parts_bytes": pages.get("parts", 0) + pages.get("parts_by_target", 0),
        "whole_row": created["store:whole"], "file_bytes": db.stat().st_size,
    }


async def amain(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tether-appends-"))
    print(f"# appends benchmark: {machine_notes()}")
    print(f"# {args.tokens}-token reply, {args.subscribers} subscribers, window {args.window},"
          f" extras {'none' if args.bare else f'{len(msgpack.packb(AI_EXTRAS))} B (AI Transport)'}, sqlite engine")
    server = ServerProc("tether", workdir, KEY, "warning").start()
    subs = Worker("subscribers", subscribers_process, ("127.0.0.1", server.port, args.subscribers))
    results: dict[str, list[Run]] = {"publish": [], "append": []}
    paced: dict[str, Run] = {}
    try:
        async with asyncio.timeout(DEADLINE_S):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, subs.expect, "ready", 60)
            streamer = Streamer("127.0.0.1", server.port)
            await asyncio.wait_for(loop.create_connection(lambda: streamer, "127.0.0.1", server.port), 10)
            await asyncio.wait_for(streamer.connected, 10)
            print("\n## flat-out")
            for r in range(args.rounds):
                # Alternate the order so background load hits both modes alike.
                for mode in ("publish", "append") if r % 2 == 0 else ("append", "publish"):
                    run = await measure(streamer, subs, server.pid, f"flat:{mode}:{r}", mode, args, args.tokens, 0)
                    results[mode].append(run)
                    print(f"round {r + 1} {run.line()}", flush=True)
            print(f"\n## paced at {args.rate:g} tokens/s")
            for mode in ("publish", "append"):
                paced[mode] = await measure(streamer, subs, server.pid, f"paced:{mode}", mode, args, args.paced_tokens,
                                            args.rate)
                print(paced[mode].line(), flush=True)
            streamer.close()
        store = await storage(args, workdir)
    finally:
        subs.finish()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    rate = {mode: statistics.median(r.rate for r in runs) for mode, runs in results.items()}
    cpu = {mode: statistics.median(r.cpu_us for r in runs) for mode, runs in results.items()}
    # Each round runs the two modes back to back, so a per-round ratio shares the background load.
    round_ratios = [a.seconds / p.seconds for p, a in zip(results["publish"], results["append"])]
    cost = cpu["append"] / cpu["publish"]
    p99 = paced["append"].pct(0.99)
    print("\n## summary")
    print(f"flat-out medians: publish {rate['publish']:.0f} tokens/s, append {rate['append']:.0f} tokens/s"
          f" (time ratio per round: median {statistics.median(round_ratios):.2f}x,"
          f" range {min(round_ratios):.2f}-{max(round_ratios):.2f})")
    print(f"broker CPU per token: publish {cpu['publish']:.0f} us, append {cpu['append']:.0f} us;"
          f" append cost = {cost:.2f}x publish (target <= 1.2x: {'met' if cost <= 1.2 else 'NOT met'})")
    print(f"paced {args.rate:g}/s p99: publish {paced['publish'].pct(0.99):.2f} ms, append {p99:.2f} ms"
          f" (target <= 2 ms: {'met' if p99 <= 2 else 'NOT met'})")
    per_append = store["parts_bytes"] / store["appends"]
    print(f"storage: final data {store['final_data']} B (whole message row {store['whole_row']} B);"
          f" {store['part_rows']} part rows, bodies {store['part_bodies']} B, table+index pages"
          f" {store['parts_bytes']} B = {per_append:.0f} B per append ="
          f" {store['parts_bytes'] / store['whole_row']:.0f}x the whole message; db file {store['file_bytes']} B")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000, help="tokens in the streamed reply")
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--window", type=int, default=200, help="operations in flight when not paced")
    parser.add_argument("--rounds", type=int, default=5, help="flat-out rounds; the median is reported")
    parser.add_argument("--rate", type=float, default=100.0, help="tokens/s for the paced latency run")
    parser.add_argument("--paced-tokens", type=int, default=2000, help="tokens in each paced run")
    parser.add_argument("--bare", action="store_true", help="send tokens without the AI Transport extras")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    uvloop.run(amain(parse_args(argv)))


if __name__ == "__main__":
    main()
