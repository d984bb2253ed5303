"""A master and two worker processes on 127.0.0.1 against a broker: the combined figures are the
sum of the workers', and the loss/duplicate accounting matches what the broker stored."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from client import Rest
from client.loadtest.records import parse
from tests.load.conftest import RUN_TIMEOUT, load_cmd, target
from tests.support.broker import ROOT, BrokerProcess, free_port

SUBS, PUBS, RATE, DURATION = 30, 2, 40, 2.0


async def test_master_and_two_workers(broker: BrokerProcess, tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "summary.json"
    master = subprocess.Popen(
        load_cmd("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                 "--expect-workers", "2", *target(broker), "--channel", "dist", "--subscribers", str(SUBS),
                 "--publishers", str(PUBS), "--rate", str(RATE), "--duration", str(DURATION),
                 "--summary-json", str(out)),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers = [subprocess.Popen(load_cmd("--worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    try:
        log, _ = master.communicate(timeout=RUN_TIMEOUT)
        assert master.returncode == 0, log[-4000:]
        for w in workers:
            w.communicate(timeout=30)
            assert w.returncode == 0
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
                p.wait(10)
    s = json.loads(out.read_text())

    assert s["complete"] and s["workers"] == 2
    assert s["devices"] == {"expected": SUBS + PUBS, "ready": SUBS + PUBS, "connected": SUBS + PUBS}
    per = s["per_worker"]
    assert len(per) == 2 and all(w["delivered"] > 0 and w["published"] >= 0 for w in per)
    assert sum(w["delivered"] for w in per) == s["delivered"] == s["latency_ms"]["deliver"]["count"]
    assert sum(w["published"] for w in per) == s["published"]
    assert sum(w["connected"] for w in per) == s["devices"]["connected"]

    # every publish is ACKed, every subscriber got every one exactly once
    published = s["published"]
    assert published >= RATE * DURATION and s["acked"] == published and s["nacked"] == 0
    acc = s["accounting"]
    assert acc == {"subscribers": SUBS, "expected": SUBS * published, "received": SUBS * published, "lost": 0,
                   "loss_pct": 0.0, "duplicates": 0, "reordered": 0, "delivered_unacked": 0,
                   "subscribers_with_loss": 0}
    assert s["errors"] == {}

    # and the broker stored exactly those messages: seqs 1..n from each publisher, once
    stored: dict[str, list[int]] = {}
    async with Rest(key=broker.key, host="127.0.0.1", port=broker.port, tls=False) as rest:
        page = await rest.channels.get("dist").history(limit=1000)
        async for message in page.all():
            for _t, origin, seq in parse(message.data):
                stored.setdefault(origin, []).append(seq)
    assert len(stored) == PUBS
    assert sum(len(v) for v in stored.values()) == published
    for seqs in stored.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
