"""HTTP clients that never read: what do they cost the broker's memory, and the others' service?

Starts a broker (memory engine, `--root` selects the source tree, so an older checkout can be
measured the same way), publishes `--messages` messages of `--size` bytes to one channel, then
opens `--sockets` sockets with a 4 KiB receive window, each pipelining `--pipelined` history
requests for the whole channel and never reading. It samples the broker's RSS every 200 ms for
`--seconds` and then times a fresh client's `GET /time`. Traffic goes only to 127.0.0.1.

    .venv/bin/python -m benchmarks.http_flood --sockets 1 --pipelined 200
    .venv/bin/python -m benchmarks.http_flood --sockets 30 --pipelined 8
"""

from __future__ import annotations

import argparse
import base64
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .procstat import rss_kib

KEY = "bench.root:benchsecretbenchsecret"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the broker did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="source tree whose broker is run")
    parser.add_argument("--sockets", type=int, default=1)
    parser.add_argument("--pipelined", type=int, default=200)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--size", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "broker", "--engine", "memory", "--port", str(port), "--key", KEY],
                            cwd=args.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sockets: list[socket.socket] = []
    try:
        wait_healthy(url)
        auth = "Basic " + base64.b64encode(KEY.encode()).decode()
        with httpx.Client(base_url=url, headers={"Authorization": auth}, timeout=30) as http:
            for _ in range(args.messages):
                http.post("/channels/big/messages", json={"data": "x" * args.size}).raise_for_status()
        start = peak = rss_kib(proc.pid)
        request = (f"GET /channels/big/messages?limit={args.messages} HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: {auth}\r\n\r\n").encode()
        for _ in range(args.sockets):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)
            try:
                sock.send(request * args.pipelined)
            except BlockingIOError:
                pass
            sockets.append(sock)
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            peak = max(peak, rss_kib(proc.pid))
            time.sleep(0.2)
        started = time.monotonic()
        status = httpx.get(f"{url}/time", timeout=30).status_code
        took = time.monotonic() - started
        print(f"sockets={args.sockets} pipelined={args.pipelined} page={args.messages}x{args.size}B: "
              f"RSS {start // 1024} -> peak {peak // 1024} MiB; a fresh GET /time: {status} in {took * 1000:.0f} ms")
    finally:
        for sock in sockets:
            sock.close()
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
