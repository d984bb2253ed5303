"""Which receive stack a Locust worker should use: gevent sockets or a uvloop thread.

Locust runs users as gevent greenlets, so the obvious worker is a greenlet per connection on a
gevent socket. tether-load instead runs every connection on one uvloop thread (engine.py).
This measures both on the same work: N subscribers in one gevent-patched process (as a Locust
worker is), the same frame parser (frames.py) and the same per-message work (JSON decode,
record parse, histogram, sequence accounting); wsload publishes at a fixed rate. The figure
is the receiving process's CPU time per delivery (latency here is from the broker's message
timestamp, in ms resolution: a rough cross-check only).

    .venv/bin/python -m benchmarks.load_stacks --wsload /tmp/refbench/loadgen/wsload --subs 100 --rate 250
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.load_capacity import KEY, ROOT, pin, start_broker
from tests.support.broker import free_port


def receiver(stack: str, port: int, subs: int, channel: str, seconds: float) -> None:
    from gevent import monkey
    monkey.patch_all()
    import gevent
    import gevent.socket

    from client.loadtest.frames import FrameParser, client_frame, upgrade_request
    from client.loadtest.metrics import Histogram, Subscriber
    from client.loadtest.records import parse

    hist, stats = Histogram(), {"delivered": 0, "first": 0.0}
    path = f"/?key={KEY}&format=json&v=5"
    attach = client_frame(json.dumps({"action": 10, "channel": channel, "flags": 1 << 18}).encode(), 0x1)

    def on_pm(pm: dict, sub: Subscriber) -> None:
        if pm.get("action") != 15:
            return
        now = time.time_ns()
        for m in pm.get("messages") or ():
            list(parse(m.get("data")))  # wsload's payload is not a tether-load record: same attempt, no match
            hist.add(max(0, now // 1000 - int(m.get("timestamp") or pm.get("timestamp") or 0) * 1000))
            sub.see(channel, "wsload", stats["delivered"] + 1)
            stats["delivered"] += 1
            if not stats["first"]:
                stats["first"] = time.process_time()

    if stack == "gevent":
        class G(FrameParser):
            def __init__(self) -> None:
                super().__init__()
                self.sub = Subscriber()

            def on_payload(self, opcode: int, payload: bytes) -> None:
                on_pm(json.loads(payload), self.sub)

            def on_control(self, opcode: int, payload: bytes) -> None:
                pass

        def run_one() -> None:
            s = gevent.socket.create_connection(("127.0.0.1", port))
            s.sendall(upgrade_request("127.0.0.1", port, path) + attach)
            p = G()
            while True:
                data = s.recv(65536)
                if not data:
                    return
                p.feed(data)

        for _ in range(subs):
            gevent.spawn(run_one)
        print("ready", flush=True)
        gevent.sleep(seconds)
    else:
        import asyncio

        import uvloop
        start_thread = monkey.get_original("_thread", "start_new_thread")

        class A(FrameParser, asyncio.Protocol):
            def __init__(self) -> None:
                super().__init__()
                self.sub = Subscriber()

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transport.write(upgrade_request("127.0.0.1", port, path) + attach)  # type: ignore[attr-defined]

            def data_received(self, data: bytes) -> None:
                self.feed(data)

            def on_payload(self, opcode: int, payload: bytes) -> None:
                on_pm(json.loads(payload), self.sub)

            def on_control(self, opcode: int, payload: bytes) -> None:
                pass

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for _ in range(subs):
                await loop.create_connection(A, "127.0.0.1", port)
            await asyncio.sleep(seconds)

        start_thread(lambda: uvloop.run(main()), ())
        print("ready", flush=True)
        gevent.sleep(seconds + 0.5)
    cpu = time.process_time() - stats["first"]
    print(json.dumps({"stack": stack, "delivered": stats["delivered"], "cpu_s": round(cpu, 3),
                      "cpu_us_per_delivery": round(cpu / max(1, stats["delivered"]) * 1e6, 2),
                      "p50_ms": hist.quantile(0.5) / 1000, "p99_ms": hist.quantile(0.99) / 1000}), flush=True)


def per_frame(n: int = 200_000) -> None:
    """CPU per received frame in tether-load's own receive path, without sockets."""
    import msgpack

    from client.loadtest.conn import AblyConnection, Endpoint
    from client.loadtest.engine import Engine, WorkerState
    from client.loadtest.records import record
    from client.loadtest.roles import Listener

    for fmt in ("json", "msgpack"):
        pm = {"action": 15, "id": "abc:0", "connectionId": "abc", "channel": "load", "channelSerial": "01:123@0",
              "timestamp": 1733300000000, "messages": [{"id": "abc:0:0", "name": "load", "serial": "01:123@0",
                                                        "data": record("pub0-0", 5, 100), "connectionId": "abc",
                                                        "timestamp": 1733300000000}]}
        payload = json.dumps(pm).encode() if fmt == "json" else msgpack.packb(pm)
        engine = Engine.__new__(Engine)  # no thread: only the state and endpoint a Listener reads
        engine.state, engine.devices = WorkerState(), []
        engine.endpoint = Endpoint("127.0.0.1", 1, False, fmt, {})
        device = Listener(engine, "sub0-0", ["load"])
        device.subscribe(("load",))
        conn: AblyConnection = device.conn
        t = time.perf_counter()
        for _ in range(n):
            conn.on_payload(1, payload)
        full = (time.perf_counter() - t) / n * 1e6
        t = time.perf_counter()
        for _ in range(n):
            json.loads(payload) if fmt == "json" else msgpack.unpackb(payload)
        decode = (time.perf_counter() - t) / n * 1e6
        print(json.dumps({"format": fmt, "on_payload_us": round(full, 2), "decode_only_us": round(decode, 2)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wsload", default="/tmp/refbench/loadgen/wsload")
    ap.add_argument("--subs", type=int, default=100)
    ap.add_argument("--rate", type=float, default=250)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--receiver", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--per-frame", action="store_true", help="only measure the receive path per frame, no sockets")
    a = ap.parse_args()
    if a.per_frame:
        per_frame()
        return
    if a.receiver:
        stack, port, subs, channel = a.receiver
        receiver(stack, int(port), int(subs), channel, a.duration + 4)
        return
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        broker = start_broker(Path(d), port)
        try:
            for rep in range(a.repeats):
                for stack in (("gevent", "asyncio") if rep % 2 == 0 else ("asyncio", "gevent")):
                    channel = f"s{time.monotonic_ns()}"
                    proc = subprocess.Popen([*pin(1), sys.executable, "-m", "benchmarks.load_stacks", "--duration",
                                             str(a.duration), "--receiver", stack, str(port), str(a.subs), channel],
                                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
                    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
                    time.sleep(1.0)  # the receiver's connections attach; wsload's own warmup follows
                    subprocess.run([*pin(1), a.wsload, "--mode", "ably", "--port", str(port), "--subs", "1",
                                    "--rate", str(a.rate), "--duration", str(a.duration), "--warmup", "0",
                                    "--pub-attach", "--key", KEY, "--channel", channel],
                                   capture_output=True, timeout=a.duration + 60, check=True)
                    out, _ = proc.communicate(timeout=a.duration + 30)
                    print(out.strip().splitlines()[-1], flush=True)
        finally:
            broker.terminate()
            broker.wait(10)


if __name__ == "__main__":
    main()
