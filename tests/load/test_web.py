"""The web UI path: Locust's own stats carry our latencies, and /tether serves our figures."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.load.conftest import RUN_TIMEOUT, load_cmd, target
from tests.support.broker import ROOT, BrokerProcess, free_port


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


async def test_web_ui_autostart(broker: BrokerProcess, tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "summary.json"
    proc = subprocess.Popen(load_cmd("--web", "--web-host", "127.0.0.1", "--web-port", str(port), "--autostart",
                                     "--autoquit", "1", *target(broker), "--subscribers", "5", "--rate", "20",
                                     "--duration", "3", "--summary-json", str(out)),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        live = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                stats = {s["name"]: s["num_requests"] for s in get(f"http://127.0.0.1:{port}/stats/requests")["stats"]}
                if stats.get("deliver"):
                    live = get(f"http://127.0.0.1:{port}/tether")
                    break
            except OSError:
                pass
            time.sleep(0.2)  # polling a web page: there is no event to await
        assert live is not None and live["progress"]["counts"]["delivered"] > 0
        log, _ = proc.communicate(timeout=RUN_TIMEOUT)
        assert proc.returncode == 0, log[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    s = json.loads(out.read_text())
    assert s["accounting"]["lost"] == 0 and s["accounting"]["expected"] == 5 * s["acked"] > 0
