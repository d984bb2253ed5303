"""Run a real broker process for a test, on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = "tether.root:rootsecretrootsecret"
START_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(http_url: str, proc: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> None:
    """Poll /healthz until 200; fail fast if the process exits. Polling is the only signal here."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{http_url}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not become healthy in {timeout}s")


@dataclass
class BrokerProcess:
    """A `python -m broker` child process; `start()` returns once /healthz answers 200."""

    db: Path
    engine: str = "sqlite"
    keys: list[str] = field(default_factory=lambda: [TEST_KEY])
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    tls: bool = False  # the caller passes --tls-cert/--tls-key and trusts the CA (SSL_CERT_FILE)

    @property
    def key(self) -> str:
        return self.keys[0]

    @property
    def http_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}"

    def start(self) -> BrokerProcess:
        args = [sys.executable, "-m", "broker", "--host", self.host, "--port", str(self.port),
                "--engine", self.engine, "--db", str(self.db), "--log-level", "info"]
        for key in self.keys:
            args += ["--key", key]
        args += self.extra_args
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = self.db.parent / f"broker-{self.port}.log"
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        try:
            wait_healthy(self.http_url, self.proc)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}:\n{self.log()}") from None
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs, as in a crash."""
        self.stop(signal.SIGKILL)
