"""tether-load against the reference C load generator (wsload) on the same broker and scenario.

For every point (N subscribers, paced publish rate) one fresh broker is started (SQLite engine,
pinned to cpu0) and driven in turn by wsload and by one tether-load worker process (pinned to
cpu1), repeats alternating, on the same scenario: fanout, 1 publisher attached, JSON, 100-byte
messages. The largest point whose tether-load figures are within 10% of wsload's is the one
worker's capacity; past it the tool's bottleneck warning says to add workers.

    .venv/bin/python -m benchmarks.load_capacity --wsload /tmp/refbench/loadgen/wsload \\
        --points 100:1000,100:2000,1000:100,1000:200 --repeats 2 --out benchmarks/results/load_capacity.jsonl

Build wsload first on a copy of the reference kit (its README): `cp -r ../shared/bench /tmp/refbench &&
cd /tmp/refbench && bash setup.sh`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.broker import free_port, wait_healthy

KEY = "A.B:Csecretsecret"
ROOT = Path(__file__).resolve().parents[1]


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


def start_broker(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*pin(0), sys.executable, "-m", "broker", "--port", str(port), "--db",
                             str(tmp / f"b{port}.db"), "--key", KEY, "--log-level", "warning"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def run_wsload(wsload: str, port: int, subs: int, rate: float, duration: float, pid: int) -> dict[str, Any]:
    out = subprocess.run([*pin(1), wsload, "--mode", "ably", "--port", str(port), "--subs", str(subs),
                          "--rate", str(rate), "--duration", str(duration), "--pub-attach", "--key", KEY,
                          "--channel", f"w{time.monotonic_ns()}", "--server-pid", str(pid)],
                         capture_output=True, text=True, timeout=duration + 120, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    lat = r["latency_us"]
    return {"tool": "wsload", "deliveries_per_s": r["deliveries_per_s"], "publish_per_s": r["publish_per_s"],
            "p50_ms": lat["p50"] / 1000, "p99_ms": lat["p99"] / 1000, "max_ms": lat["max"] / 1000,
            "loss": r["loss"], "duplicates": r["duplicates"], "loadgen_cpu_pct": r["loadgen_cpu_pct"],
            "server_cpu_pct": r["server_cpu_pct"]}


def run_tether_load(port: int, subs: int, rate: float, duration: float, tmp: Path) -> dict[str, Any]:
    out = tmp / f"s{time.monotonic_ns()}.json"
    subprocess.run([*pin(1), sys.executable, "-m", "client.loadtest", "--port", str(port), "--key", KEY,
                    "--scenario", "fanout", "--subscribers", str(subs), "--publishers", "1", "--pub-attach",
                    "--rate", str(rate), "--size", "100", "--format", "json", "--duration", str(duration),
                    "--channel", f"t{time.monotonic_ns()}", "--summary-json", str(out)],
                   cwd=ROOT, capture_output=True, text=True, timeout=duration + 180, check=True)
    s = json.loads(out.read_text())
    d, w = s["latency_ms"]["deliver"], s["per_worker"][0]
    return {"tool": "tether-load", "deliveries_per_s": s["delivery_rate"], "publish_per_s": s["publish_rate"],
            "p50_ms": d["p50"], "p99_ms": d["p99"], "max_ms": d["max"], "loss": s["accounting"]["lost"],
            "duplicates": s["accounting"]["duplicates"], "loadgen_cpu_pct": w["cpu_mean"],
            "loop_lag_p99_ms": w["loop_lag_ms"]["p99"], "bottleneck": s["bottleneck"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wsload", default="/tmp/refbench/loadgen/wsload")
    ap.add_argument("--points", default="100:1000,100:2000,1000:100,1000:200", help="SUBS:RATE,...")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for point in a.points.split(","):
            subs, rate = int(point.split(":")[0]), float(point.split(":")[1])
            port = free_port()
            broker = start_broker(tmp, port)
            try:
                for rep in range(a.repeats):
                    order = ("wsload", "tether-load") if rep % 2 == 0 else ("tether-load", "wsload")
                    for tool in order:
                        r = (run_wsload(a.wsload, port, subs, rate, a.duration, broker.pid) if tool == "wsload"
                             else run_tether_load(port, subs, rate, a.duration, tmp))
                        r.update({"subs": subs, "rate": rate, "repeat": rep})
                        rows.append(r)
                        print(json.dumps(r), flush=True)
            finally:
                broker.terminate()
                broker.wait(10)
    if a.out:
        with open(a.out, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
