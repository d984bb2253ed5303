"""Slow consumers: does a subscriber that stops reading cost the others anything?

Two runs, each on a fresh broker (sqlite, `--outbound-buffer` as given):

- **baseline**: `--fast` subscribers on one channel and a publisher paced at `--rate` messages
  per second of `--size` bytes for `--seconds`;
- **slow**: the same, plus `--slow` subscribers that attach and then stop reading (their
  receive windows pinned at 16 KiB, reading paused), so the broker's writes to them pile up.

For each run it reports the fast subscribers' publish-to-deliver latency (p50/p99/max, from
every fifth subscriber, which decodes every frame), what they received against what was
published (lost, duplicated, reordered), what happened to the slow ones (how many the broker
logged as over the limit and closed; a client that never reads again never sees the
DISCONNECTED, so its socket is aborted after the grace period), and the broker's peak RSS and
CPU time. Traffic goes only to 127.0.0.1 and every wait is bounded.

    .venv/bin/python -m benchmarks.slow_consumer                 # ~40 s
    .venv/bin/python -m benchmarks.slow_consumer --slow 8 --outbound-buffer 1048576
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgpack
import uvloop

from broker.protocol.actions import Action

from .loadgen import (
    AblyConn,
    Publisher,
    PubRun,
    Subscriber,
    Target,
    WorkerTally,
    _await_delivery,
    _close_all,
    _connect_all,
)
from .procstat import cpu_seconds, rss_kib

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench.root:benchsecretbenchsecret"
START_TIMEOUT = 15.0
SLOW_RCVBUF = 16 * 1024
DRAIN_TIMEOUT = 15.0  # for a slow subscriber, once it reads again, to see its DISCONNECTED and close
SAMPLE_EVERY = 5
RSS_INTERVAL = 0.1


class SlowSubscriber(AblyConn):
    """Attaches, then stops reading; records whether the broker cut it off, and how."""

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.received = 0
        self.disconnected: dict[str, Any] | None = None

    def on_message(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        pm = msgpack.unpackb(memoryview(data)[start:end])
        action = pm.get("action")
        if action == Action.MESSAGE:
            self.received += len(pm.get("messages") or ())
        elif action == Action.DISCONNECTED:
            self.disconnected = pm.get("error")
        else:
            self.on_control(pm)

    async def connect(self) -> None:
        """A socket whose receive window stays small, so the broker's own buffer is what fills."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
        sock.setblocking(False)
        await loop.sock_connect(sock, (self.target.host, self.target.port))
        await loop.create_connection(lambda: self, sock=sock)
        await asyncio.wait_for(self.attach(), self.target.handshake_timeout)


def start_broker(workdir: Path, outbound: int) -> tuple[subprocess.Popen[bytes], int, Path]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    log_path = workdir / f"broker-{port}.log"
    argv = [sys.executable, "-m", "broker", "--engine", "sqlite", "--db", str(workdir / f"{port}.db"),
            "--key", KEY, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--outbound-buffer", str(outbound)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return proc, port, log_path
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("broker did not become healthy")


async def sample_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    """Peak RSS while the run lasts (polling /proc is the only way to see it)."""
    while not stop.is_set():
        peak[0] = max(peak[0], rss_kib(pid))
        try:
            await asyncio.wait_for(stop.wait(), RSS_INTERVAL)
        except TimeoutError:
            pass


async def run(args: argparse.Namespace, slow_count: int, workdir: Path) -> dict[str, Any]:
    proc, port, log_path = start_broker(workdir, args.outbound_buffer)
    try:
        target = Target("127.0.0.1", port, KEY, "bench:slow")
        tally = WorkerTally()
        fast = [Subscriber(target, tally, i % SAMPLE_EVERY == 0) for i in range(args.fast)]
        attached, failures = await _connect_all(fast, 50, target.handshake_timeout)
        if attached != args.fast:
            raise RuntimeError(f"fast subscribers failed to attach: {failures}")
        slow = [SlowSubscriber(target) for _ in range(slow_count)]
        for s in slow:
            await s.connect()
            assert s.transport is not None
            s.transport.pause_reading()
        pub = Publisher(target)
        if (await _connect_all([pub], 1, target.handshake_timeout))[0] != 1:
            raise RuntimeError("publisher failed to attach")
        rss_start, cpu_start = rss_kib(proc.pid), sum(cpu_seconds(proc.pid))
        peak, stop = [rss_start], asyncio.Event()
        sampler = asyncio.create_task(sample_rss(proc.pid, peak, stop))
        published = await pub.publish(PubRun(duration=args.seconds, window=args.rate, rate=args.rate,
                                             payload_size=args.size))
        tally.expect(published["sent"], fast)
        await _await_delivery(tally, fast, stall=5.0)
        stop.set()
        await sampler
        cpu = sum(cpu_seconds(proc.pid)) - cpu_start
        for s in slow:
            if s.transport is not None:
                s.transport.resume_reading()
        if slow:
            await asyncio.wait([s.closed for s in slow], timeout=DRAIN_TIMEOUT)
        expected = published["sent"]
        sampled = [s for s in fast if s.seq is not None]
        lat = tally.latency
        log = log_path.read_text(errors="replace")
        result = {
            "slow": slow_count, "published": expected, "acked": published["acked"],
            "publish_seconds": (published["end_send_ns"] - published["start_ns"]) / 1e9,
            "fast": args.fast,
            "fast_received": sum(s.count for s in fast),
            "fast_expected": expected * args.fast,
            "fast_lost": sum(max(0, expected - s.count) for s in fast),
            "fast_dups": sum(s.seq.dups for s in sampled if s.seq),
            "fast_reorders": sum(s.seq.reorders for s in sampled if s.seq),
            "fast_cut_off": sum(1 for s in fast if s.closed_by_peer),
            "p50_ms": lat.quantile_ns(0.5) / 1e6, "p99_ms": lat.quantile_ns(0.99) / 1e6, "max_ms": lat.max_ns / 1e6,
            "slow_disconnected_80003": sum(1 for s in slow if s.disconnected and s.disconnected.get("code") == 80003),
            "slow_closed": sum(1 for s in slow if s.closed.done()),
            "slow_received_before_cut": [s.received for s in slow],
            "broker_over_limit_logged": log.count("outbound buffer over"),
            "rss_start_mib": rss_start / 1024, "rss_peak_mib": peak[0] / 1024, "broker_cpu_s": cpu,
        }
        await _close_all([*fast, pub])
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    def row(r: dict[str, Any]) -> dict[str, str]:
        return {
            "slow subscribers": str(r["slow"]),
            "published / acked": f"{r['published']} / {r['acked']}",
            "fast: received / expected": f"{r['fast_received']} / {r['fast_expected']}",
            "fast: lost / dup / reordered / cut off":
                f"{r['fast_lost']} / {r['fast_dups']} / {r['fast_reorders']} / {r['fast_cut_off']}",
            "fast: latency p50 / p99 / max (ms)": f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} / {r['max_ms']:.1f}",
            "slow: over the limit (broker log) / socket closed by the broker":
                f"{r['broker_over_limit_logged']} / {r['slow_closed']}" if r["slow"] else "–",
            "broker: RSS MiB, start → peak": f"{r['rss_start_mib']:.0f} → {r['rss_peak_mib']:.0f}",
            "broker: CPU seconds": f"{r['broker_cpu_s']:.1f}",
        }

    columns = [row(r) for r in results]
    header = (f"{args.fast} fast subscribers, {args.rate} msg/s × {args.size} B for {args.seconds:g} s, "
              f"outbound limit {args.outbound_buffer} B\n\n")
    lines = ["| | baseline | with slow consumers |", "|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(c[name] for c in columns) + " |" for name in columns[0]]
    return header + "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="tether-slow-") as tmp:
        return [await run(args, 0, Path(tmp)), await run(args, args.slow, Path(tmp))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slow_consumer", description=__doc__.split("\n")[0])
    parser.add_argument("--fast", type=int, default=20)
    parser.add_argument("--slow", type=int, default=4)
    parser.add_argument("--rate", type=int, default=1000, help="messages per second")
    parser.add_argument("--size", type=int, default=2048, help="payload bytes per message")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--outbound-buffer", type=int, default=8 << 20)
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    args = parser.parse_args()
    results = uvloop.run(main_async(args))
    print(table(results, args))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
