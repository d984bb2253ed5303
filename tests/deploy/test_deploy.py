"""docs/deploy.md and the Dockerfile as an operator uses them: the unit's command line runs, the image serves."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.broker import ROOT, TEST_KEY, BrokerProcess, free_port

DEPLOY = (ROOT / "docs" / "deploy.md").read_text()


def test_the_systemd_units_command_line_starts_a_broker(tmp_path: Path) -> None:
    exec_start = re.search(r"^ExecStart=(.+)$", DEPLOY, re.MULTILINE)
    assert exec_start is not None
    argv = shlex.split(exec_start.group(1))
    assert argv[1:3] == ["-m", "broker"]
    flags = argv[3:]
    # The unit's flags as written, with only the address and the path moved onto this test's.
    flags[flags.index("--host") + 1] = "127.0.0.1"
    flags[flags.index("--db") + 1] = str(tmp_path / "broker.db")
    port = flags.index("--port") + 1
    broker = BrokerProcess(db=tmp_path / "broker.db")
    flags[port] = str(broker.port)
    broker.extra_args = flags
    broker.start()
    try:
        with urllib.request.urlopen(f"{broker.http_url}/time", timeout=5) as response:
            assert isinstance(json.load(response)[0], int)
    finally:
        broker.stop()


def _docker() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    return None if info.returncode == 0 else f"no Docker daemon: {info.stderr.strip()[:200]}"


def test_the_image_builds_runs_as_non_root_and_serves(tmp_path: Path) -> None:
    problem = _docker()
    if problem is not None:
        pytest.skip(problem)
    tag = f"tether-test:{uuid.uuid4().hex[:8]}"
    name = f"tether-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    subprocess.run(["docker", "build", "-q", "-t", tag, str(ROOT)], check=True, timeout=600, capture_output=True)
    try:
        subprocess.run(["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
                        "-e", f"BROKER_KEY={TEST_KEY}", tag], check=True, timeout=60, capture_output=True)
        user = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True, timeout=30)
        assert user.stdout.strip() not in ("", "0"), "the broker does not run as root"
        deadline = time.monotonic() + 60
        status = ""
        while time.monotonic() < deadline and status != "healthy":  # Docker's own health state: polled
            status = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", name],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
            time.sleep(0.5)
        assert status == "healthy"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/time", timeout=5) as response:
            assert isinstance(json.load(response)[0], int)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
