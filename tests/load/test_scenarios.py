"""Every scenario, run headless by `tether-load` against a real broker: bounded, exact accounting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.load.conftest import run_local
from tests.support.broker import BrokerProcess

NO_LOSS = {"lost": 0, "duplicates": 0, "reordered": 0, "delivered_unacked": 0, "subscribers_with_loss": 0}


def exact(summary: dict, subscribers: int) -> None:
    acc = summary["accounting"]
    assert {k: acc[k] for k in NO_LOSS} == NO_LOSS
    assert acc["subscribers"] == subscribers
    assert acc["expected"] == acc["received"] > 0
    assert summary["errors"] == {} and summary["nacked"] == 0
    assert summary["devices"]["ready"] == summary["devices"]["expected"]


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
async def test_fanout(broker: BrokerProcess, tmp_path: Path, fmt: str) -> None:
    s = run_local(broker, tmp_path, "--subscribers", "20", "--publishers", "2", "--rate", "50",
                  "--duration", "2", "--format", fmt, "--report-dir", str(tmp_path / "report"))
    for name in ("latency_over_time.png", "latency_histogram.png", "deliveries.png"):
        assert (tmp_path / "report" / name).read_bytes().startswith(b"\x89PNG")
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and '&quot;lost&quot;: 0' in page
    timeline = json.loads((tmp_path / "report" / "timeline.json").read_text())
    assert sum(timeline["deliveries"]) == s["delivered"]
    assert len(timeline["seconds"]) == len(timeline["p99_ms"]) and all(p >= 0 for p in timeline["p99_ms"])
    exact(s, 20)
    assert s["acked"] == s["published"] >= 100
    assert s["accounting"]["expected"] == 20 * s["acked"]
    lat = s["latency_ms"]
    assert lat["deliver"]["count"] == s["delivered"] == 20 * s["acked"]
    assert lat["connect"]["count"] == 22 and lat["attach"]["count"] == 20 and lat["ack"]["count"] == s["acked"]
    assert 0 < lat["deliver"]["p50"] <= lat["deliver"]["p99"] <= lat["deliver"]["p99.9"] <= lat["deliver"]["max"]


async def test_personal(broker: BrokerProcess, tmp_path: Path) -> None:
    s = run_local(broker, tmp_path, "--scenario", "personal", "--subscribers", "10", "--rate", "10",
                  "--duration", "2")
    exact(s, 10)
    assert s["accounting"]["expected"] == s["acked"] >= 200  # each user's own messages, back by echo


async def test_sharded(broker: BrokerProcess, tmp_path: Path) -> None:
    s = run_local(broker, tmp_path, "--scenario", "sharded", "--subscribers", "12", "--shards", "4",
                  "--publishers", "2", "--rate", "40", "--duration", "2")
    exact(s, 12)
    assert s["accounting"]["expected"] == 3 * s["acked"]  # 3 subscribers per shard, publishes spread evenly


async def test_presence(broker: BrokerProcess, tmp_path: Path) -> None:
    s = run_local(broker, tmp_path, "--scenario", "presence", "--subscribers", "12", "--observers", "3",
                  "--churn", "2", "--duration", "2")
    exact(s, 3)
    ops = s["accounting"]["expected"] // 3  # each observer sees every member's churn
    assert ops >= 12 * 2 * 2 * 0.8
    assert s["latency_ms"]["sync"]["count"] == 12


async def test_streaming_with_rollup(broker: BrokerProcess, tmp_path: Path) -> None:
    s = run_local(broker, tmp_path, "--scenario", "streaming", "--conversations", "2",
                  "--clients-per-conversation", "3", "--rate", "50", "--reply-tokens", "10", "--rollup-ms", "30",
                  "--duration", "2")
    exact(s, 6)
    assert s["accounting"]["expected"] == 3 * s["acked"] >= 3 * 150  # every token rendered by 3 clients
    assert s["latency_ms"]["ack"]["count"] < s["acked"]  # tokens rolled up: fewer appends than tokens


async def test_storm(broker: BrokerProcess, tmp_path: Path) -> None:
    s = run_local(broker, tmp_path, "--scenario", "storm", "--subscribers", "20", "--rate", "50",
                  "--storm-at", "1", "--duration", "3")
    exact(s, 20)
    assert s["storm"]["dropped"] == 20 and s["storm"]["resumed"] == 20 and s["storm"]["resume_failed"] == 0
    assert s["latency_ms"]["resume"]["count"] == 20 and s["storm"]["all_resumed_s"] > 0


async def test_fail_on_exits_1(broker: BrokerProcess, tmp_path: Path) -> None:
    s = run_local(broker, tmp_path, "--subscribers", "3", "--rate", "20", "--duration", "1",
                  "--fail-on", "p50>0ms,loss>0", expect_rc=1)
    assert s["failed"] and s["failed"][0].startswith("p50=")


async def test_refuses_a_remote_target(broker: BrokerProcess, tmp_path: Path) -> None:
    import subprocess

    from tests.load.conftest import load_cmd
    from tests.support.broker import ROOT
    proc = subprocess.run(load_cmd("--realtime-host", "192.0.2.1", "--port", "1", "--key", broker.key,
                                   "--duration", "1"), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "--allow-remote" in proc.stderr
