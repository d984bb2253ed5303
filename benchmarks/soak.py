"""Soak: hours-long shape of a deployment, compressed: does the broker's memory, fd count or latency drift?

    python -m benchmarks.soak --duration 1800            # 30 minutes, results in benchmarks/results/soak/

One broker process (SQLite, a fresh database) on loopback. First a capacity probe: `tether-load
sharded` flat out for --probe seconds gives the publishes/s this machine sustains for the soak's
shape (10 channels, 100 subscribers). Then, for --duration seconds, all at once:

- `tether-load sharded` at --load (default half) of that capacity: publishes, fan-out, latency;
- `tether-load presence`: members entering and leaving at --churn ops/s each;
- attach churn and reconnects, from this process: every second a connection attaches three fresh
  channels, detaches and closes; every --reconnect-every seconds a connection is cut and resumed
  (the same connectionId must come back);
- a sampler: broker RSS, open fds and CPU every --sample seconds.

Written to the output directory: samples.jsonl, soak.png (RSS, fds, latency p50/p99 per sample
window), the two tether-load summaries and reports, and summary.md with the verdicts: RSS growth
after warm-up (target <= 10%) and latency drift (p99 of the last tenth vs the first tenth after
warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from benchmarks.procstat import cpu_seconds, rss_kib
from tests.support.broker import TEST_KEY, BrokerProcess
from tests.support.wire import WireClient

RESULTS = Path(__file__).resolve().parent / "results" / "soak"
SHAPE = ["--scenario", "sharded", "--shards", "10", "--subscribers", "100", "--publishers", "2"]


@dataclass
class Sample:
    t: float
    rss_mib: float
    fds: int
    cpu_pct: float
    attaches: int
    resumes: int
    resume_failures: int
    errors: int


def tether_load(broker: BrokerProcess, out: Path, name: str, args: list[str], duration: float) -> subprocess.Popen[bytes]:
    cmd = [str(Path(sys.executable).with_name("tether-load")), "--port", str(broker.port), "--key", broker.key,
           "--format", "msgpack", "--duration", str(duration), "--summary-json", str(out / f"{name}.json"),
           "--report-dir", str(out / name), *args]
    log = open(out / f"{name}.log", "wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def capacity(broker: BrokerProcess, out: Path, seconds: float) -> float:
    """Publishes/s ACKed flat out for the soak's shape (a rate no publisher reaches, a window of 64)."""
    probe = tether_load(broker, out, "probe", [*SHAPE, "--rate", "100000", "--window", "64"], seconds)
    probe.wait(seconds + 120)
    summary = json.loads((out / "probe.json").read_text())
    return float(summary["acked"]) / float(summary["duration_s"])


class Churn:
    """Attach churn and cut-and-resume reconnects over raw protocol connections."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.broker = broker
        self.attaches = self.resumes = self.resume_failures = self.errors = 0

    async def attach_cycle(self) -> None:
        client = await WireClient.open(self.broker.ws_url, "msgpack", key=self.broker.key)
        try:
            await client.connected()
            for _ in range(3):
                channel = f"soak-churn-{uuid.uuid4().hex[:8]}"
                await client.attach(channel)
                await client.send({"action": 12, "channel": channel})
                await client.expect(13, lambda m, c=channel: m.get("channel") == c)
                self.attaches += 1
        finally:
            await client.ws.close()

    async def resume_cycle(self) -> None:
        first = await WireClient.open(self.broker.ws_url, "msgpack", key=self.broker.key)
        connected = await first.connected()
        await first.attach("soak-resume")
        first.ws.transport.abort()  # a cut, not a close: the connection stays resumable
        again = await WireClient.open(self.broker.ws_url, "msgpack", key=self.broker.key,
                                      resume=connected["connectionDetails"]["connectionKey"])
        try:
            back = await again.connected()
            if back.get("connectionId") == connected["connectionId"] and "error" not in back:
                self.resumes += 1
            else:
                self.resume_failures += 1
        finally:
            await again.ws.close()

    async def run(self, until: float, reconnect_every: float) -> None:
        loop = asyncio.get_running_loop()
        next_resume = loop.time() + reconnect_every
        while loop.time() < until:
            started = loop.time()
            try:
                await asyncio.wait_for(self.attach_cycle(), 10)
                if started >= next_resume:
                    next_resume += reconnect_every
                    await asyncio.wait_for(self.resume_cycle(), 10)
            except (OSError, TimeoutError, AssertionError, KeyError, ConnectionClosed):
                self.errors += 1
            await asyncio.sleep(max(0.0, 1.0 - (loop.time() - started)))


async def sample_loop(pid: int, churn: Churn, until: float, every: float, out: Path) -> list[Sample]:
    samples: list[Sample] = []
    start = time.monotonic()
    last_cpu, last_t = sum(cpu_seconds(pid)), start
    with (out / "samples.jsonl").open("w") as f:
        while time.monotonic() < until:
            await asyncio.sleep(every)
            now, cpu = time.monotonic(), sum(cpu_seconds(pid))
            sample = Sample(t=round(now - start, 1), rss_mib=round(rss_kib(pid) / 1024, 1),
                            fds=len(os.listdir(f"/proc/{pid}/fd")),
                            cpu_pct=round(100 * (cpu - last_cpu) / (now - last_t), 1), attaches=churn.attaches,
                            resumes=churn.resumes, resume_failures=churn.resume_failures, errors=churn.errors)
            last_cpu, last_t = cpu, now
            samples.append(sample)
            f.write(json.dumps(asdict(sample)) + "\n")
            f.flush()
    return samples


def windows(timeline: dict[str, list[float]], every: float) -> list[tuple[float, float, float]]:
    """(t, p50, p99) per sample window: the medians of the per-second figures inside it."""
    rows: dict[int, list[tuple[float, float]]] = {}
    for s, p50, p99, n in zip(timeline["seconds"], timeline["p50_ms"], timeline["p99_ms"], timeline["deliveries"],
                              strict=True):
        if n:
            rows.setdefault(int(s // every), []).append((p50, p99))
    return [((k + 1) * every, statistics.median(a for a, _ in v), statistics.median(b for _, b in v))
            for k, v in sorted(rows.items())]


def plot(samples: list[Sample], lat: list[tuple[float, float, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    ts = [s.t for s in samples]
    axes[0].plot(ts, [s.rss_mib for s in samples], marker=".")
    axes[0].set(ylabel="broker RSS (MiB)", title="Soak")
    axes[1].plot(ts, [s.fds for s in samples], marker=".")
    axes[1].set(ylabel="broker open fds")
    axes[2].plot([t for t, _, _ in lat], [p for _, p, _ in lat], marker=".", label="p50")
    axes[2].plot([t for t, _, _ in lat], [p for _, _, p in lat], marker=".", label="p99")
    axes[2].set(xlabel="seconds since start", ylabel="delivery latency (ms)")
    axes[2].legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def verdicts(samples: list[Sample], lat: list[tuple[float, float, float]], warmup: float) -> dict[str, Any]:
    warm = [s for s in samples if s.t >= warmup]
    base, end = warm[0].rss_mib, max(s.rss_mib for s in warm[-3:])
    after = [row for row in lat if row[0] >= warmup]
    tenth = max(1, len(after) // 10)
    first, last = statistics.median(r[2] for r in after[:tenth]), statistics.median(r[2] for r in after[-tenth:])
    return {"rss_after_warmup_mib": base, "rss_end_mib": end, "rss_growth_pct": round(100 * (end - base) / base, 1),
            "fds_min_max": [min(s.fds for s in warm), max(s.fds for s in warm)],
            "p99_first_tenth_ms": round(first, 2), "p99_last_tenth_ms": round(last, 2),
            "p99_drift_pct": round(100 * (last - first) / first, 1) if first else None}


async def soak(args: argparse.Namespace, broker: BrokerProcess, out: Path, rate: float) -> list[Sample]:
    assert broker.proc is not None
    procs = [tether_load(broker, out, "sharded", [*SHAPE, "--rate", str(round(rate))], args.duration),
             tether_load(broker, out, "presence", ["--scenario", "presence", "--subscribers", str(args.members),
                                                   "--churn", str(args.churn), "--observers", "5"], args.duration)]
    churn = Churn(broker)
    until = time.monotonic() + args.duration + 5
    try:
        samples, _ = await asyncio.gather(sample_loop(broker.proc.pid, churn, until, args.sample, out),
                                          churn.run(until, args.reconnect_every))
    finally:
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(30.0, args.duration * 0.1))
            if proc.poll() is None:
                proc.kill()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of soak")
    parser.add_argument("--probe", type=float, default=20.0, help="seconds of the capacity probe")
    parser.add_argument("--load", type=float, default=0.5, help="fraction of the probed capacity")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before the RSS baseline")
    parser.add_argument("--members", type=int, default=200, help="presence members")
    parser.add_argument("--churn", type=float, default=0.2, help="presence leave/enter ops per member per second")
    parser.add_argument("--reconnect-every", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS / time.strftime("%Y-%m-%d-%H%M"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(db=Path(tmp) / "broker.db", keys=[TEST_KEY]).start()
        try:
            cap = capacity(broker, args.out, args.probe)
            rate = cap * args.load
            print(f"capacity {cap:.0f} publishes/s; soaking at {rate:.0f}/s for {args.duration:.0f} s", flush=True)
            samples = asyncio.run(soak(args, broker, args.out, rate))
        finally:
            broker.stop()
    timeline = json.loads((args.out / "sharded" / "timeline.json").read_text())
    lat = windows(timeline, args.sample)
    plot(samples, lat, args.out / "soak.png")
    result = {"command": "python -m benchmarks.soak " + " ".join(argv if argv is not None else sys.argv[1:]),
              "capacity_per_s": round(cap), "rate_per_s": round(rate), **verdicts(samples, lat, args.warmup),
              "last_sample": asdict(samples[-1]),
              "sharded": {k: json.loads((args.out / "sharded.json").read_text())[k]
                          for k in ("published", "acked", "delivered", "accounting", "error_total", "bottleneck")}}
    (args.out / "summary.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
