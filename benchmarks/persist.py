"""Persisted publish throughput on one channel: SqliteEngine, with MemoryEngine as the baseline.

Many concurrent appenders publish ~100-byte messages to one channel; every append returns only
once durable (sqlite) or stored (memory). Prints messages/s, commits, mean batch size and append
latency percentiles per engine, then the sqlite/memory ratio. Runs on uvloop; bounded in time.

    .venv/bin/python benchmarks/persist.py [--tasks 50] [--messages 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker.engine.base import Engine, HistoryQuery, Publication
from broker.engine.memory import MemoryEngine
from broker.engine.sqlite import SqliteEngine
from broker.protocol.message import Message

CHANNEL = "bench"
DEADLINE_S = 55.0


@dataclass
class Result:
    engine: str
    messages: int
    seconds: float
    commits: int | None
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        batch = f"{self.messages / self.commits:8.1f}" if self.commits else "       -"
        commits = f"{self.commits:7d}" if self.commits is not None else "      -"
        return (
            f"{self.engine:7s} {self.rate:10.0f} msg/s  {self.seconds:6.2f} s  commits {commits}  batch {batch}"
            f"  p50 {self.percentile(0.50):7.2f} ms  p99 {self.percentile(0.99):7.2f} ms"
        )


async def measure(name: str, engine: Engine, tasks: int, per_task: int, payload: str) -> Result:
    """Publish tasks × per_task single-message appends and check every one is in history."""
    heard = 0

    def listener(_: Publication) -> None:
        nonlocal heard
        heard += 1

    engine.bus.connect(listener)
    engine.bus.subscribe_prefix("")
    await engine.open()
    latencies: list[float] = []

    async def publisher(worker: int) -> None:
        for i in range(per_task):
            message = Message(name="token", data=payload, id=f"conn{worker}:{i}:0", connection_id=f"conn{worker}")
            began = time.perf_counter()
            await engine.append(CHANNEL, [message], time.time_ns() // 1_000_000)
            latencies.append((time.perf_counter() - began) * 1000)

    try:
        began = time.perf_counter()
        await asyncio.gather(*(publisher(w) for w in range(tasks)))
        seconds = time.perf_counter() - began
        total = tasks * per_task
        stored = await engine.history(CHANNEL, HistoryQuery(direction="forwards", limit=total + 1))
        if len(stored) != total or heard != total:
            raise SystemExit(f"{name}: stored {len(stored)}, heard {heard}, expected {total}")
        commits = engine.commits if isinstance(engine, SqliteEngine) else None
        return Result(name, total, seconds, commits, latencies)
    finally:
        await engine.close()


async def main(args: argparse.Namespace) -> None:
    payload = ("lorem ipsum dolor sit amet " * 4)[: args.payload]
    print(
        f"one channel, {args.tasks} tasks x {args.messages} appends, {len(payload)}-byte payload,"
        f" {args.rounds} rounds, loop {type(asyncio.get_running_loop()).__module__}"
    )
    results: dict[str, list[Result]] = {"memory": [], "sqlite": []}
    async with asyncio.timeout(DEADLINE_S):
        with tempfile.TemporaryDirectory(prefix="tether-persist-") as tmp:
            for round_no in range(args.rounds):
                memory = await measure("memory", MemoryEngine(), args.tasks, args.messages, payload)
                db = Path(tmp) / f"round{round_no}.db"
                sqlite = await measure("sqlite", SqliteEngine(db), args.tasks, args.messages, payload)
                results["memory"].append(memory)
                results["sqlite"].append(sqlite)
                print(f"round {round_no + 1}\n  {memory.line()}\n  {sqlite.line()}")
    medians = {name: statistics.median(r.rate for r in rounds) for name, rounds in results.items()}
    print(f"median  memory {medians['memory']:.0f} msg/s   sqlite {medians['sqlite']:.0f} msg/s")
    print(
        f"sqlite/memory ratio {medians['sqlite'] / medians['memory']:.2f}   target sqlite >= 20000 msg/s:"
        f" {'met' if medians['sqlite'] >= 20_000 else 'NOT met'}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50, help="concurrent appenders")
    parser.add_argument("--messages", type=int, default=1000, help="appends per task")
    parser.add_argument("--payload", type=int, default=100, help="payload size in bytes")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median rate is reported")
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse_args()))
