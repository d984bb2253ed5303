"""Append rollup on egress: one agent streaming to many subscribers, window 0 against 40 ms, in one run.

One agent connection streams appends to one message at `--rate` tokens/s for `--duration`
seconds (100/s x 20 s = 2,000 tokens), each carrying the extras @ably/ai-transport puts on every
append, with Ably's `appendRollupWindow` transport parameter on its connection; 50 and 500
subscribers receive them. Per run:

  deliveries/s  messages the subscribers received per second (a rolled-up append is one), and
                tokens/s (every token, whichever message carried it)
  CPU/token     the broker process's user+system CPU over the measured window (/proc/<pid>/stat,
                all threads), divided by the tokens published in it
  p99           send-to-arrival latency of every token at every subscriber ("append to render":
                a token renders when the append that carries it arrives)

Targets at 500 subscribers with 40 ms: CPU/token <= 0.3x the window-0 figure, p99 <= window + 10 ms.

The load client is the reference C epoll generator (/work/shared/bench/loadgen/wsload.c), built
here with `wsload_append.patch` (two options: `--append-serial`, `--extras`); it reads every token marker in a joined append and counts loss, duplicates and reorders
per token. The message is created first by a Python connection (its serial is the target).

Run from the repository root:  .venv/bin/python -m benchmarks.rollup
Results: benchmarks/results/rollup.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvloop

from .appends import AI_EXTRAS, KEY, Streamer
from .fanout import ServerProc, machine_notes

HERE = Path(__file__).resolve().parent
WSLOAD_SOURCE = Path("/work/shared/bench/loadgen/wsload.c")
PATCH = HERE / "wsload_append.patch"


def build_wsload(source: Path, workdir: Path) -> Path:
    """The reference load generator with the append options, compiled in `workdir`."""
    tree = workdir / "wsload"
    (tree / "loadgen").mkdir(parents=True)
    shutil.copy(source, tree / "loadgen" / "wsload.c")
    subprocess.run(["patch", "-s", "-p1", "-i", str(PATCH)], cwd=tree, check=True)
    binary = tree / "loadgen" / "wsload"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(tree / "loadgen" / "wsload.c")], check=True)
    return binary


def _pin(pid: int, cpu: int) -> None:
    """Broker on one core, load generator on the other (--pin: only on an otherwise idle machine,
    since a pinned broker cannot move off a core that other work is using)."""
    os.sched_setaffinity(pid, {cpu})


async def create_message(port: int, channel: str) -> str:
    loop = asyncio.get_running_loop()
    agent = Streamer("127.0.0.1", port)
    await asyncio.wait_for(loop.create_connection(lambda: agent, "127.0.0.1", port), 10)
    await asyncio.wait_for(agent.connected, 10)
    serial = await agent.create(channel, AI_EXTRAS)
    agent.close()
    return serial


@dataclass
class Run:
    subscribers: int
    window: int
    result: dict[str, Any]

    @property
    def tokens(self) -> int:
        return int(self.result["published_in_window"])

    @property
    def messages_per_s(self) -> float:
        return float(self.result["frames_per_s"])

    @property
    def tokens_per_s(self) -> float:
        return float(self.result["deliveries_per_s"])

    @property
    def cpu_us(self) -> float:
        return self.result["server_cpu_pct"] / 100 * self.result["window_s"] / max(1, self.tokens) * 1e6

    @property
    def p99_ms(self) -> float:
        return self.result["latency_us"]["p99"] / 1000

    @property
    def faults(self) -> int:
        r = self.result
        return int(r["loss"] + r["duplicates"] + r["reordered"] + r["nacked"] + r["error_frames"]
                   + r["failed_conns"] + r["closed_after_ready"])

    def line(self) -> str:
        lat = self.result["latency_us"]
        return (f"{self.subscribers:4d} subs, window {self.window:3d} ms: {self.tokens} tokens,"
                f" {self.messages_per_s:8.0f} deliveries/s ({self.tokens_per_s:6.0f} tokens/s),"
                f" broker CPU {self.cpu_us:6.0f} us/token ({self.result['server_cpu_pct']:.1f}%),"
                f" p50 {lat['p50'] / 1000:6.2f} p99 {self.p99_ms:6.2f} max {lat['max'] / 1000:6.2f} ms,"
                f" loadgen CPU {self.result['loadgen_cpu_pct']:.0f}%, loss {self.result['loss']}"
                f" dup {self.result['duplicates']} reorder {self.result['reordered']} faults {self.faults}")


async def measure(wsload: Path, server: ServerProc, subscribers: int, window: int,
                  args: argparse.Namespace, channel: str) -> Run:
    serial = await create_message(server.port, channel)
    path = f"/?key={quote(KEY, safe='')}&format=json&v=6&appendRollupWindow={window}"
    cmd = [str(wsload), "--mode", "ably", "--port", str(server.port), "--subs", str(subscribers), "--pubs", "1",
           "--rate", str(args.rate), "--warmup", "1", "--duration", str(args.duration), "--drain", "5",
           "--size", "0", "--channel", channel, "--key", KEY, "--path", path, "--pub-attach",
           "--append-serial", serial, "--extras", json.dumps(AI_EXTRAS, separators=(",", ":")),
           "--server-pid", str(server.pid), "--label", f"{subscribers}x{window}"]
    if args.pin:
        cmd = ["taskset", "-c", "1", *cmd]
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True,
                                   timeout=args.duration + 120)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"wsload exited {done.returncode}: {done.stderr[-2000:]}")
    return Run(subscribers, window, json.loads(done.stdout.strip().splitlines()[-1]))


async def amain(args: argparse.Namespace) -> list[Run]:
    workdir = Path(tempfile.mkdtemp(prefix="tether-rollup-"))
    runs: list[Run] = []
    try:
        wsload = build_wsload(args.wsload_source, workdir)
        print(f"# rollup benchmark: {machine_notes()}")
        print(f"# {args.rate:g} tokens/s for {args.duration:g} s per run, AI Transport extras, sqlite engine,"
              f" subscribers {args.subscribers}, windows {args.windows}, {args.rounds} round(s)", flush=True)
        server = ServerProc("tether", workdir, KEY, "warning").start()
        if args.pin:
            _pin(server.pid, 0)
        try:
            for r in range(args.rounds):
                for count in args.subscribers:
                    windows = args.windows if r % 2 == 0 else list(reversed(args.windows))
                    for window in windows:
                        run = await measure(wsload, server, count, window, args, f"rollup:{count}:{window}:{r}")
                        runs.append(run)
                        print(run.line(), flush=True)
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return runs


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def summary(runs: list[Run], windows: list[int]) -> None:
    print("\n## summary (medians over rounds)")
    base = windows[0]
    for count in sorted({r.subscribers for r in runs}):
        by_window = {w: [r for r in runs if r.subscribers == count and r.window == w] for w in windows}
        cpu = {w: _median([r.cpu_us for r in rs]) for w, rs in by_window.items()}
        for w, rs in by_window.items():
            ratio = cpu[w] / cpu[base] if cpu[base] else float("nan")
            p99 = _median([r.p99_ms for r in rs])
            verdict = ""
            if count == max(r.subscribers for r in runs) and w:
                met = ratio <= 0.3 and p99 <= w + 10
                verdict = f"; targets (<= 0.3x, p99 <= {w + 10} ms): {'met' if met else 'NOT met'}"
            print(f"{count:4d} subs, window {w:3d} ms: {_median([r.messages_per_s for r in rs]):8.0f} deliveries/s,"
                  f" CPU {cpu[w]:6.0f} us/token ({ratio:.2f}x window {base}), p99 {p99:.2f} ms,"
                  f" faults {sum(r.faults for r in rs)}{verdict}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="tokens per second")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--subscribers", type=lambda s: [int(x) for x in s.split(",")], default=[50, 500])
    parser.add_argument("--windows", type=lambda s: [int(x) for x in s.split(",")], default=[0, 40])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pin", action="store_true", help="broker on cpu0, load generator on cpu1")
    parser.add_argument("--wsload-source", type=Path, default=WSLOAD_SOURCE)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = uvloop.run(amain(args))
    summary(runs, args.windows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
