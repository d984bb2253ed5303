"""The measurement primitives: histogram percentiles, per-stream accounting, summary loss, --fail-on."""

from __future__ import annotations

import random

import pytest

from client.loadtest.cli import locust_argv
from client.loadtest.metrics import Histogram, Stream, Subscriber, bucket_of, bucket_value
from client.loadtest.records import parse, record
from client.loadtest.summary import failures, merge, parse_rules


def test_histogram_percentiles_within_bucket_precision() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(8, 1.2)) for _ in range(50_000)]
    h = Histogram()
    for v in values:
        h.add(v)
    values.sort()
    for q in (0.5, 0.9, 0.99, 0.999):
        exact = values[int(q * len(values)) - 1]
        assert abs(h.quantile(q) - exact) <= exact / 32 + 1
    assert h.max == values[-1] and h.count == len(values)
    assert Histogram.from_wire(h.to_wire()).summary_ms() == h.summary_ms()
    for v in (0, 63, 64, 1000, 10**7):
        assert abs(bucket_value(bucket_of(v)) - v) <= v / 64 + 1


def test_stream_counts_gaps_duplicates_and_late_arrivals() -> None:
    s = Stream()
    for seq in (1, 2, 4, 4, 3, 7, 2):
        s.see(seq)
    assert (s.distinct, s.top, s.duplicates, s.reordered, s.missing) == (5, 7, 2, 1, {5, 6})


def test_records_survive_concatenation() -> None:
    data = record("pub0-1", 5, 60, now_ns=1) + record("pub0-1", 6, 10, now_ns=2)
    assert list(parse(data)) == [(1, "pub0-1", 5), (2, "pub0-1", 6)]
    assert len(record("p", 1, 100)) == 100
    assert list(parse({"not": "a record"})) == [] and list(parse("hello")) == []


def _final(subs: list[Subscriber], channels: tuple[str, ...], ledgers: list[list]) -> dict:
    from collections import Counter
    outcomes = Counter(s.outcome(channels) for s in subs)
    empty = Histogram().to_wire()
    return {"pid": 1, "hist": {k: empty for k in ("deliver", "connect", "attach", "ack", "sync", "resume",
                                                   "loop_lag")},
            "counts": {"published": sum(lg[2] for lg in ledgers), "delivered": 0}, "errors": {},
            "ledgers": ledgers, "storm": {}, "cpu": [10.0],
            "outcomes": [[list(c), [list(r) for r in rows], n] for (c, rows), n in outcomes.items()]}


def test_loss_is_owed_acked_messages_from_publishers_on_every_worker() -> None:
    whole, holey, silent = Subscriber(), Subscriber(), Subscriber()
    for seq in range(1, 11):
        whole.see("ch", "pA", seq)
        if seq != 4:
            holey.see("ch", "pA", seq)
    for seq in range(1, 6):
        whole.see("ch", "pB", seq)
        holey.see("ch", "pB", seq)
    holey.see("ch", "pB", 5)
    # pA's ledger is on worker 1, pB's on worker 2; the silent subscriber received nothing at all
    finals = {"1": _final([whole, holey], ("ch",), [["ch", "pA", 10, 10, 0]]),
              "2": _final([silent], ("ch",), [["ch", "pB", 6, 5, 1]])}
    acc = merge(finals, scenario="fanout", duration=1.0, workers=2, expected_devices=5)["accounting"]
    assert acc == {"subscribers": 3, "expected": 45, "received": 29, "lost": 16, "loss_pct": round(1600 / 45, 4),
                   "duplicates": 1, "reordered": 0, "delivered_unacked": 0, "subscribers_with_loss": 2}


def test_fail_on_rules() -> None:
    finals = {"1": _final([], ("ch",), [])}
    s = merge(finals, scenario="fanout", duration=1.0, workers=1, expected_devices=0)
    assert failures(s, parse_rules("p99>50ms,loss>0")) == []
    assert failures(s, parse_rules("p99>=0ms, errors>=0")) == ["p99=0 >= 0", "errors=0 >= 0"]
    assert parse_rules("ack_p99>0.5s") == [("ack_p99", ">", 500.0)]
    with pytest.raises(ValueError):
        parse_rules("p99 is high")
    with pytest.raises(ValueError):
        failures(s, parse_rules("nonsense>1"))


def test_users_follow_the_scenario() -> None:
    argv = locust_argv(["--scenario", "streaming", "--conversations", "3", "--clients-per-conversation", "4",
                        "--key", "a.b:c"])
    assert argv[argv.index("-u") + 1] == "15" and "--headless" in argv and "--run-time" in argv
    assert "-u" not in locust_argv(["--worker", "--master-host", "127.0.0.1"])
    assert "--headless" not in locust_argv(["--web", "--key", "a.b:c"])
