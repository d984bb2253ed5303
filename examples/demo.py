"""The whole multi-device demo in one command: the broker, the example agent and the web page.

    python -m examples.demo                 # this machine only (127.0.0.1)
    python -m examples.demo --host 0.0.0.0  # also phones and laptops on your network

It starts the broker on its embedded default (SQLite under data/, its development key), builds
the page in examples/web when needed, starts examples/agent.py as the page's backend (token
endpoint, config, the built page) and prints the URLs to open: two tabs, or a tab and a phone, are
two devices of one user sharing one conversation. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

try:
    from examples.broker_options import ROOT
    from examples.web_build import build_page
except ImportError:  # run as a script: examples/ itself is on sys.path
    from broker_options import ROOT  # type: ignore[no-redef]
    from web_build import build_page  # type: ignore[no-redef]

START_TIMEOUT = 30.0


def wait_for_broker(port: int, broker: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> None:
    """Until the broker answers GET /time; a broker that exits first is an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.poll() is not None:
            raise RuntimeError(f"the broker exited with status {broker.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/time", timeout=1) as response:
                json.load(response)
                return
        time.sleep(0.1)
    raise RuntimeError(f"the broker did not answer on port {port} within {timeout:.0f} s")


def lan_address() -> str:
    """This machine's address on its network, for the phone's URL (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def urls(host: str, port: int, chat: str) -> Iterator[str]:
    shown = lan_address() if host == "0.0.0.0" else host
    for device in ("laptop", "phone"):
        yield f"http://{shown}:{port}/?user=alice&device={device}&chat={chat}"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address; 0.0.0.0 lets other devices in")
    parser.add_argument("--broker-port", type=int, default=8080)
    parser.add_argument("--port", type=int, default=9000, help="the page and the agent (0: any free port)")
    parser.add_argument("--db", default="data/broker.db", help="the broker's database (default as `make run`)")
    parser.add_argument("--chat", default="welcome", help="the conversation the printed URLs open")
    parser.add_argument("--tokens", type=int, default=40, help="words in each fake reply")
    parser.add_argument("--delay-ms", type=float, default=80.0, help="pause before each word")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        page = build_page()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"demo: cannot build the page: {exc}", file=sys.stderr)
        return 1
    db = Path(args.db) if Path(args.db).is_absolute() else ROOT / args.db
    db.parent.mkdir(parents=True, exist_ok=True)
    broker_log = db.with_name("demo-broker.log")
    with broker_log.open("w") as log:
        broker = subprocess.Popen([sys.executable, "-m", "broker", "--host", args.host,
                                   "--port", str(args.broker_port), "--db", str(db), "--log-level", "warning"],
                                  cwd=ROOT, stderr=log)
    agent: subprocess.Popen[str] | None = None
    try:
        wait_for_broker(args.broker_port, broker)
        key = db.with_name("dev-key.txt").read_text().strip()
        # Each device has its own clientId (run ownership is by clientId); the token endpoint only
        # grants a user's own channels, so any device of that user may cancel a run.
        agent = subprocess.Popen(
            [sys.executable, "-m", "examples.agent", "--broker-port", str(args.broker_port), "--key", key,
             "--listen", f"{args.host}:{args.port}", "--web", str(page), "--anyone-can-cancel",
             "--tokens", str(args.tokens), "--delay-ms", str(args.delay_ms)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert agent.stdout is not None
        match = re.search(r":(\d+)/invoke", agent.stdout.readline())
        if match is None:
            print("demo: the agent did not start", file=sys.stderr)
            return 1
        laptop, phone = urls(args.host, int(match.group(1)), args.chat)
        print(f"Tether demo is up (broker on port {args.broker_port}).\n"
              f"  Open as the laptop:  {laptop}\n  and as the phone:    {phone}\n"
              "Type a prompt in one; the reply streams into both. Ctrl-C stops the demo.", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            agent.wait()
        return 0
    except RuntimeError as exc:
        print(f"demo: {exc}; its log: {broker_log}", file=sys.stderr)
        return 1
    finally:
        for process in (agent, broker):
            if process is not None and process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(10)
                if process.poll() is None:
                    process.kill()


if __name__ == "__main__":
    sys.exit(main())
