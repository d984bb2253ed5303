"""One broker process per fuzz module, and the checks every fuzz input is followed by.

The fuzz runs are bounded: FUZZ_EXAMPLES inputs per property (default 40 in the suite, `make fuzz`
raises it), each one followed by `still_serves`: a fresh client connects, attaches, publishes and
receives its own message. At the end of the module the broker's RSS growth is bounded and its log
holds no traceback.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
RSS_GROWTH_LIMIT = 64 << 20  # bytes over the warmed-up RSS; a leak per input would pass it


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def fuzz_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    broker = BrokerProcess(db=tmp_path_factory.mktemp("fuzz") / "broker.db").start()
    assert broker.proc is not None
    yield broker
    grown = rss(broker.proc.pid) - broker_baseline.get(broker.port, rss(broker.proc.pid))
    broker.stop()
    assert broker.log_path is not None
    log = broker.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 200:][:3000]
    assert grown <= RSS_GROWTH_LIMIT, f"broker RSS grew {grown >> 20} MiB over the fuzz run"


broker_baseline: dict[int, int] = {}


async def still_serves(broker: BrokerProcess, fmt: str = "json") -> None:
    """A fresh client gets full service: connect, attach, publish, ACK, and its message back."""
    assert broker.proc is not None and broker.proc.poll() is None, "the broker died"
    broker_baseline.setdefault(broker.port, rss(broker.proc.pid))
    client = await WireClient.open(broker.ws_url, fmt, key=broker.key)
    try:
        await client.connected()
        channel = f"health-{uuid.uuid4().hex[:8]}"
        await client.attach(channel)
        serial = await client.publish(channel, [{"name": "ping", "data": "ok"}])
        answer = await client.ack(serial)
        assert answer["action"] == 1, answer
        got = await client.expect(15, lambda m: m.get("channel") == channel)
        assert got["messages"][0]["data"] == "ok"
    finally:
        await client.ws.close()
