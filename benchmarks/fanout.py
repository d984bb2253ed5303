"""Fan-out benchmark: the Tether broker against a raw websockets broadcast server, in one run.

Scenarios (each run against a fresh process of each server, driven by the same generator):
  a  one frame per delivery: N subscribers, the publisher keeps `--window-a` publishes in flight
  b  flat-out publishing: N subscribers, `--window-b` publishes in flight, so servers coalesce
  c  latency: `--rate` publishes/s paced for `--latency-duration` s to `--latency-subscribers`
  d  idle connections: RSS growth per connection, then a few publishes reach every one of them

Run from the repository root:  .venv/bin/python -m benchmarks.fanout
See benchmarks/README.md for the method and the recorded results.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from .loadgen import (
    Collected,
    PubRun,
    SubSpec,
    Target,
    publisher_process,
    subscriber_process,
)
from .procstat import (
    SystemCpu,
    cpu_seconds,
    nofile_limit,
    raise_nofile,
    rss_kib,
    runqueue_wait_seconds,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KEY = "bench.root:benchsecretbenchsecret"
CHANNEL = "bench-fanout"
SERVERS = ("baseline", "tether")
START_TIMEOUT = 20.0
_MP = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    subscribers: int
    run: PubRun
    sample_every: int
    measure_rss: bool = False


@contextlib.contextmanager
def _nofile_for_children(soft: int) -> Iterator[None]:
    """Lower our soft fd limit while a child is spawned (it inherits it); 0 changes nothing."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, saved[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)


@dataclass
class ServerProc:
    """A server child process on a free loopback port; `start()` returns once /healthz is 200."""

    kind: str
    workdir: Path
    key: str
    log_level: str
    nofile: int = 0  # soft RLIMIT_NOFILE to start the server with; 0 inherits ours
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    argv: list[str] = field(default_factory=list)

    def start(self) -> ServerProc:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        if self.kind == "baseline":
            self.argv = [sys.executable, "-m", "benchmarks.baseline_server", "--port", str(self.port)]
        else:
            db = self.workdir / f"tether-{self.port}.db"
            self.argv = [sys.executable, "-m", "broker", "--engine", "sqlite", "--db", str(db), "--key", self.key,
                         "--host", "127.0.0.1", "--port", str(self.port), "--log-level", self.log_level]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
        with open(self.log_path, "ab") as log, _nofile_for_children(self.nofile):
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} not healthy after {START_TIMEOUT}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.kind}-{self.port}.log"

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Worker:
    """A load-generator child process and its end of the pipe."""

    def __init__(self, name: str, target: Any, arg: Any) -> None:
        self.name = name
        self.pipe, child = _MP.Pipe()
        self.proc: BaseProcess = _MP.Process(target=target, args=(child, arg), name=name, daemon=True)
        self.proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def expect(self, kind: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pipe.poll(0.2):
                got, payload = self.pipe.recv()
                if got != kind:
                    raise RuntimeError(f"{self.name}: expected {kind!r}, got {got!r}")
                return dict(payload)
            if not self.proc.is_alive():
                raise RuntimeError(f"{self.name} died with exit code {self.proc.exitcode}")
        raise TimeoutError(f"{self.name}: no {kind!r} within {timeout:.0f}s")

    def send(self, *message: Any) -> None:
        self.pipe.send(message)

    def finish(self) -> None:
        if self.proc.is_alive():
            try:
                self.send("close")
            except (BrokenPipeError, OSError):
                pass
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.pipe.close()


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts) if base + (i < extra) > 0]


def _settled_rss(pid: int, timeout: float = 5.0) -> int:
    """RSS once it stops moving (two reads 0.5 s apart within 64 KiB), or after `timeout`."""
    last = rss_kib(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) <= 64:
            return now
        last = now
    return last


Snapshot = tuple[float, dict[str, tuple[float, float]], dict[str, float], SystemCpu]


def _cpu_snapshot(pids: dict[str, int]) -> Snapshot:
    return (time.monotonic(), {name: cpu_seconds(pid) for name, pid in pids.items()},
            {name: runqueue_wait_seconds(pid) for name, pid in pids.items()}, SystemCpu.read())


def _start_profile(args: argparse.Namespace, name: str, pid: int, label: str) -> subprocess.Popen[bytes]:
    """Sample `pid` with py-spy (collapsed stacks) while the scenario runs."""
    out = args.profile_dir / f"{label}-{name}.txt"
    return subprocess.Popen([args.py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                             "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_profile(prof: subprocess.Popen[bytes]) -> None:
    prof.send_signal(signal.SIGINT)
    try:
        prof.wait(timeout=30)
    except subprocess.TimeoutExpired:
        prof.kill()
        prof.wait(timeout=5)


def run_one(kind: str, sc: Scenario, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One scenario against one fresh server process; returns its measurements."""
    server = ServerProc(kind, workdir, args.key, args.broker_log_level, args.server_nofile).start()
    workers: list[Worker] = []
    result: dict[str, Any] = {"server": kind, "scenario": sc.name, "argv": " ".join(server.argv[1:])}
    try:
        target = Target("127.0.0.1", server.port, args.key, CHANNEL)
        soft_given = args.server_nofile or nofile_limit(os.getpid())[0]
        pub = Worker("publisher", publisher_process, target)
        workers.append(pub)
        ready = pub.expect("ready", 30)
        if not ready["connected"]:
            raise RuntimeError(f"publisher could not attach: {ready['failures']}")
        rss_before = _settled_rss(server.pid) if sc.measure_rss else rss_kib(server.pid)
        first = 0
        subs: list[Worker] = []
        for i, count in enumerate(_split(sc.subscribers, args.workers)):
            spec = SubSpec(target, count, first, sc.sample_every, args.connect_concurrency)
            subs.append(Worker(f"subscribers-{i}", subscriber_process, spec))
            first += count
        workers.extend(subs)
        t_connect = time.monotonic()
        connect_timeout = 60 + sc.subscribers / 100
        readies = [w.expect("ready", connect_timeout) for w in subs]
        connected = sum(r["connected"] for r in readies)
        result["connect_seconds"] = time.monotonic() - t_connect
        result["connected"], result["wanted"] = connected, sc.subscribers
        failures: collections.Counter[str] = collections.Counter()
        for r in readies:
            failures.update(r["failures"])
        result["connect_failures"] = dict(failures)
        rss_after = _settled_rss(server.pid) if sc.measure_rss else rss_kib(server.pid)
        result["rss_before_kib"], result["rss_after_kib"] = rss_before, rss_after
        result["rss_per_conn_kib"] = (rss_after - rss_before) / connected if connected else math.nan
        result["server_nofile"] = nofile_limit(server.pid)[0]
        result["server_raised_nofile"] = result["server_nofile"] > soft_given

        pids = {"server": server.pid, "publisher": pub.pid, "coordinator": os.getpid()}
        pids.update({w.name: w.pid for w in subs})
        profilers = [_start_profile(args, name, pid, f"{sc.name}-{kind}") for name, pid in pids.items()
                     if name.split("-")[0] in args.profile]
        t0, cpu0, wait0, sys0 = _cpu_snapshot(pids)
        pub.send("go", sc.run)
        done = pub.expect("done", sc.run.duration + sc.run.ack_timeout + 30)
        for w in subs:
            w.send("expect", done["acked"], args.stall)
        collected = Collected([w.expect("report", args.stall + 120) for w in subs])
        t1, cpu1, wait1, sys1 = _cpu_snapshot(pids)
        for prof in profilers:
            _stop_profile(prof)
    finally:
        for w in workers:
            w.finish()
        server.stop()

    wall = t1 - t0
    cpu = {name: (sum(cpu1[name]) - sum(cpu0[name])) / wall * 100 for name in pids}
    kernel = {name: (cpu1[name][1] - cpu0[name][1]) / wall * 100 for name in pids}
    waiting = {name: (wait1[name] - wait0[name]) / wall * 100 for name in pids}
    ours = sum(sum(cpu1[name]) - sum(cpu0[name]) for name in pids)
    received = collected.total("received")
    last_ns = max(r["last_ns"] for r in collected.reports)
    active_s = (last_ns - done["start_ns"]) / 1e9 if last_ns else math.nan
    latency = collected.latency()
    acked = done["acked"]
    result.update({
        "published": done["sent"], "acked": acked, "nacked": done["nacked"], "unacked": done["unacked"],
        "publishes_per_s": acked / ((done["end_ns"] - done["start_ns"]) / 1e9),
        "expected": acked * connected, "received": received,
        "deliveries_per_s": received / active_s if active_s > 0 else math.nan,
        "active_seconds": active_s,
        "msgs_per_frame": received / max(1, collected.total("frames")),
        "lost": collected.total("lost"), "extra": collected.total("extra"),
        "seq_missing": collected.total("seq_missing"), "seq_dups": collected.total("seq_dups"),
        "seq_reorders": collected.total("seq_reorders"), "count_mismatch": collected.total("count_mismatch"),
        "sampled_subscribers": collected.total("sampled"), "closed_early": collected.total("closed_early"),
        "errors": collected.total("errors") + len(done["errors"]),
        "error_sample": [e for r in collected.reports for e in r["error_sample"]][:3] + done["errors"][:3],
        "latency_samples": latency.count,
        "p50_ms": latency.quantile_ns(0.50) / 1e6, "p99_ms": latency.quantile_ns(0.99) / 1e6,
        "max_ms": latency.max_ns / 1e6,
        "ack_p50_ms": done["ack_latency"].quantile_ns(0.50) / 1e6,
        "ack_p99_ms": done["ack_latency"].quantile_ns(0.99) / 1e6,
        "window_blocked": done["window_blocked"],
        "publishes_per_ack_frame": (acked + done["nacked"]) / max(1, done["ack_frames"]),
        "cpu_wall_s": wall, "cpu_pct": cpu, "kernel_cpu_pct": kernel, "runqueue_wait_pct": waiting,
        "loadgen_cpu_pct": sum(v for k, v in cpu.items() if k.startswith("subscribers")) + cpu["publisher"],
        "max_worker_cpu_pct": max(v for k, v in cpu.items() if k.startswith("subscribers")),
        # A task's stime includes the softirq work done in its context, so irq time is added
        # back before our processes are subtracted.
        "other_cpu_pct": max(0.0, (sys1.busy + sys1.irq - sys0.busy - sys0.irq) - ours) / wall * 100,
        "softirq_cpu_pct": (sys1.irq - sys0.irq) / wall * 100,
    })
    return result


def build_scenarios(args: argparse.Namespace) -> list[Scenario]:
    n, pay = args.subscribers, args.payload
    every = args.sample_every
    table = {
        "a": Scenario("a", f"one frame per delivery, N={n}, window {args.window_a}", n,
                      PubRun(args.duration, window=args.window_a, payload_size=pay), every or 10),
        "b": Scenario("b", f"flat-out publishing (coalesced), N={n}, window {args.window_b}", n,
                      PubRun(args.duration, window=args.window_b, payload_size=pay), every or 100),
        "c": Scenario("c", f"latency: {args.rate:g} publishes/s x {args.latency_subscribers} subscribers",
                      args.latency_subscribers,
                      PubRun(args.latency_duration, window=args.rate_window, rate=args.rate, payload_size=pay),
                      every or 5),
        "d": Scenario("d", f"{args.idle_connections} idle connections (attached), then {args.idle_publishes} "
                      "publishes to all", args.idle_connections,
                      PubRun(60.0, window=1, max_messages=args.idle_publishes, payload_size=pay),
                      every or 100, measure_rss=True),
    }
    return [table[s] for s in args.scenarios.split(",")]


def _fmt(v: float, unit: str = "") -> str:
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M{unit}"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.1f}k{unit}"
    return f"{v:.3g}{unit}" if isinstance(v, float) else f"{v}{unit}"


def _failures(r: dict[str, Any]) -> str:
    return "".join(f" ({n} failed: {reason})" for reason, n in r["connect_failures"].items())


def describe(r: dict[str, Any]) -> str:
    cpu = ", ".join(f"{k} {v:.0f}% ({r['kernel_cpu_pct'][k]:.0f}% sys, waited {r['runqueue_wait_pct'][k]:.0f}%)"
                    for k, v in r["cpu_pct"].items() if k != "coordinator")
    lines = [
        f"  [{r['server']}] {r['argv']}",
        (f"    connected {r['connected']}/{r['wanted']} in {r['connect_seconds']:.1f}s{_failures(r)}; published {r['published']}, acked "
         f"{r['acked']}, nacked {r['nacked']}, unacked {r['unacked']}; {_fmt(r['publishes_per_s'])} publishes/s; "
         f"{r['publishes_per_ack_frame']:.1f} publishes per ACK frame"),
        (f"    deliveries {r['received']}/{r['expected']} in {r['active_seconds']:.2f}s = "
         f"{_fmt(r['deliveries_per_s'])}/s; {r['msgs_per_frame']:.2f} msgs/frame"),
        (f"    check: lost {r['lost']}, duplicated {r['extra']}; sampled {r['sampled_subscribers']} subs: missing "
         f"{r['seq_missing']}, dup {r['seq_dups']}, reordered {r['seq_reorders']}, count mismatch "
         f"{r['count_mismatch']}; closed by server {r['closed_early']}; errors {r['errors']} {r['error_sample']}"),
        (f"    latency ({r['latency_samples']} samples): p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
         f"max {r['max_ms']:.2f} ms; publish->ACK p50 {r['ack_p50_ms']:.2f} ms, p99 {r['ack_p99_ms']:.2f} ms"),
        (f"    CPU over {r['cpu_wall_s']:.1f}s: {cpu}; of which kernel softirq "
         f"{r['softirq_cpu_pct']:.0f}%; other processes {r['other_cpu_pct']:.0f}%"),
        (f"    RSS {r['rss_before_kib']} -> {r['rss_after_kib']} KiB ({r['rss_per_conn_kib']:.2f} KiB/conn); "
         f"server fd soft limit {r['server_nofile']}"
         f"{' (raised by the server itself)' if r['server_raised_nofile'] else ''}"),
    ]
    return "\n".join(lines)


Runs = list[dict[str, Any]]
_DELIVERY_KEYS = ("lost", "extra", "seq_missing", "seq_dups", "seq_reorders", "count_mismatch", "closed_early")


def _median(runs: Runs, key: str) -> float:
    return float(statistics.median(r[key] for r in runs)) if runs else math.nan


def verdicts(results: dict[tuple[str, str], Runs]) -> list[tuple[str, ...]]:
    """Summary rows (medians over repeats): scenario, metric, baseline, tether, ratio, target,
    verdict, and the most CPU other processes took during any of the scenario's runs."""
    rows: list[tuple[str, ...]] = []

    def cell(runs: Runs, key: str, unit: str = "") -> str:
        return _fmt(_median(runs, key), unit) if runs else "-"

    def judge(ok: bool, *groups: Runs) -> str:
        if any(not g for g in groups):
            return "-"
        clean = all(not any(r[k] for k in _DELIVERY_KEYS) for g in groups for r in g)
        short = min(r["connected"] - r["wanted"] for g in groups for r in g)
        return (("PASS" if ok else "MISS") + ("" if clean else " (delivery errors)")
                + (f" ({-short} connections failed)" if short else ""))

    def row(sc: str, metric: str, key: str, unit: str, target: str, ok: Callable[[float, float], bool]) -> None:
        b, t = results.get(("baseline", sc), []), results.get(("tether", sc), [])
        if not b and not t:
            return
        mb, mt = _median(b, key), _median(t, key)
        ratio = mt / mb if b and t and mb else math.nan
        noise = max(r["other_cpu_pct"] for r in b + t)
        rows.append((sc, metric, cell(b, key, unit), cell(t, key, unit), f"{ratio:.2f}x", target,
                     judge(ok(ratio, mt), t) if sc in "bd" else judge(ok(ratio, mt), b, t), f"{noise:.0f}%"))

    row("a", "deliveries/s", "deliveries_per_s", "", ">= 0.9x", lambda x, _: x >= 0.9)
    row("b", "deliveries/s", "deliveries_per_s", "", ">= 5M/s", lambda _, t: t >= 5e6)
    row("c", "p99 latency", "p99_ms", " ms", "<= 1.5x", lambda x, _: x <= 1.5)
    row("c", "p50 latency", "p50_ms", " ms", "", lambda x, _: True)
    row("c", "max latency", "max_ms", " ms", "", lambda x, _: True)
    row("d", "RSS/connection", "rss_per_conn_kib", " KiB", "<= 16 KiB", lambda _, t: t <= 16)
    return [r if r[5] else r[:6] + ("",) + r[7:] for r in rows]


def cpu_rows(results: dict[tuple[str, str], Runs]) -> list[tuple[str, ...]]:
    """Who was busy (medians over repeats, % of one core): the evidence that the load
    generator is not what limits a server."""
    rows: list[tuple[str, ...]] = []
    for (kind, sc), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rows.append((sc, kind, f"{_median(runs, 'deliveries_per_s') / 1e3:.0f}k",
                     f"{statistics.median(r['cpu_pct']['server'] for r in runs):.0f}%",
                     f"{statistics.median(r['runqueue_wait_pct']['server'] for r in runs):.0f}%",
                     f"{statistics.median(r['cpu_pct']['publisher'] for r in runs):.0f}%",
                     f"{_median(runs, 'max_worker_cpu_pct'):.0f}%",
                     f"{_median(runs, 'loadgen_cpu_pct'):.0f}%",
                     f"{_median(runs, 'softirq_cpu_pct'):.0f}%", f"{_median(runs, 'other_cpu_pct'):.0f}%"))
    return rows


CPU_HEAD = ("scenario", "server", "deliveries/s", "server CPU", "server waited for CPU", "publisher CPU", "busiest subscriber process",
            "load generator total", "softirq", "other processes")
SUMMARY_HEAD = ("scenario", "metric", "baseline", "tether", "ratio", "target", "verdict", "other load")


def markdown_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="a,b,c,d", help="comma-separated subset of a,b,c,d")
    p.add_argument("--servers", default="baseline,tether", help="comma-separated subset of baseline,tether")
    p.add_argument("--subscribers", type=int, default=1000, help="N for scenarios a and b")
    p.add_argument("--duration", type=float, default=5.0, help="publishing seconds for a and b")
    p.add_argument("--window-a", type=int, default=1, help="publishes in flight in scenario a")
    p.add_argument("--window-b", type=int, default=1000, help="publishes in flight in scenario b")
    p.add_argument("--rate", type=float, default=2000.0, help="paced publishes/s in scenario c")
    p.add_argument("--rate-window", type=int, default=20000, help="max unACKed publishes in scenario c")
    p.add_argument("--latency-subscribers", type=int, default=100)
    p.add_argument("--latency-duration", type=float, default=10.0)
    p.add_argument("--idle-connections", type=int, default=10000)
    p.add_argument("--idle-publishes", type=int, default=5)
    p.add_argument("--payload", type=int, default=16, help="message data bytes")
    p.add_argument("--workers", type=int, default=2, help="subscriber processes")
    p.add_argument("--sample-every", type=int, default=0,
                   help="fully decode every k-th subscriber (default: 10 for a, 100 for b, 5 for c, 100 for d)")
    p.add_argument("--connect-concurrency", type=int, default=64, help="handshakes in flight per worker")
    p.add_argument("--stall", type=float, default=3.0, help="seconds without progress before a drain gives up")
    p.add_argument("--key", default=DEFAULT_KEY)
    p.add_argument("--server-nofile", type=int, default=0,
                   help="start servers with this soft fd limit (to see whether they raise their own)")
    p.add_argument("--broker-log-level", default="warning")
    p.add_argument("--repeat", type=int, default=3,
                   help="run scenarios a-c this many times per server, alternating; the summary takes medians")
    p.add_argument("--json", type=Path, help="also write all measurements to this file")
    p.add_argument("--profile", default="", type=lambda v: [x for x in v.split(",") if x],
                   help="comma-separated processes to sample with py-spy: server, publisher, subscribers")
    p.add_argument("--py-spy", default="py-spy", help="py-spy executable (for --profile)")
    p.add_argument("--profile-dir", type=Path, default=Path("benchmarks/results/profiles"),
                   help="where --profile writes collapsed stacks")
    return p.parse_args(argv)


def machine_notes() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return (f"{os.cpu_count()} CPUs ({cpu}); Linux {platform.release()}; Python {platform.python_version()}; "
            f"loadavg before run {' '.join(load)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = build_scenarios(args)
    servers = [s for s in args.servers.split(",") if s]
    if unknown := set(servers) - set(SERVERS):
        raise SystemExit(f"unknown servers: {unknown}")
    if args.profile:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    fds = raise_nofile(max(s.subscribers for s in scenarios) + 1024)
    print(f"# fan-out benchmark: {machine_notes()}; load-generator fd soft limit {fds}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="tether-fanout-"))
    results: dict[tuple[str, str], Runs] = {}
    started = time.monotonic()
    try:
        for sc in scenarios:
            print(f"\n## {sc.name}) {sc.title}", flush=True)
            # RSS per connection hardly varies with background load: one pass keeps the run short.
            for rep in range(1 if sc.measure_rss else args.repeat):
                # Alternate the order so a change in background load hits both servers alike.
                for kind in servers if rep % 2 == 0 else servers[::-1]:
                    r = run_one(kind, sc, args, workdir)
                    results.setdefault((kind, sc.name), []).append(r)
                    print(describe(r), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = verdicts(results)
    print(f"\n## Summary ({time.monotonic() - started:.0f}s)\n")
    print(markdown_table(SUMMARY_HEAD, rows))
    print("\nCPU during the measured windows (% of one core; 2 cores = 200%):\n")
    print(markdown_table(CPU_HEAD, cpu_rows(results)))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_notes(), "argv": sys.argv,
                                         "results": [r for runs in results.values() for r in runs]},
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
