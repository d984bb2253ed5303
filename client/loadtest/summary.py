"""The master's view: merge every worker's final report, account for loss exactly, judge `--fail-on`.

Loss is computed here because only the master knows what every publisher sent: a subscriber on
one worker is owed the ACKed messages of publishers on all workers. A message delivered whose
ACK never came is counted as `delivered_unacked`, never as negative loss.
"""

from __future__ import annotations

import collections
import operator
import re
from typing import Any

from .engine import HISTOGRAMS
from .metrics import Histogram

CPU_LIMIT = 90.0  # % of one core: above this a worker is the bottleneck
LAG_LIMIT_MS = 50.0  # event-loop lag p99 above this: the worker could not keep up


def merge(finals: dict[str, dict[str, Any]], *, scenario: str, duration: float, workers: int,
          expected_devices: int, clock_offset_ms: float = 0.0) -> dict[str, Any]:
    hist = {k: Histogram() for k in HISTOGRAMS}
    counts: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    ledgers: dict[tuple[str, str], list[int]] = {}
    per_worker = []
    storm_all, storm_dropped = 0.0, 0
    for node, rep in sorted(finals.items()):
        worker_hist = {k: Histogram.from_wire(v) for k, v in rep["hist"].items()}
        for k, h in worker_hist.items():
            hist[k].merge(h)
        counts.update(rep["counts"])
        errors.update(rep["errors"])
        for c, p, sent, acked, nacked in rep["ledgers"]:
            row = ledgers.setdefault((c, p), [0, 0, 0])
            row[0] += sent
            row[1] += acked
            row[2] += nacked
        cpu = rep["cpu"] or [0.0]
        lag = worker_hist["loop_lag"].summary_ms()
        bottleneck = max(cpu) >= CPU_LIMIT or lag["p99"] >= LAG_LIMIT_MS
        per_worker.append({"node": node, "pid": rep["pid"], "cpu_max": max(cpu),
                           "cpu_mean": round(sum(cpu) / len(cpu), 1), "loop_lag_ms": lag,
                           "delivered": rep["counts"].get("delivered", 0), "bottleneck": bottleneck})
        if rep.get("storm"):
            storm_all = max(storm_all, rep["storm"].get("all_resumed_s", 0.0))
            storm_dropped += rep["storm"].get("dropped", 0)
    accounting = _account(finals, ledgers)
    delivered = counts.get("delivered", 0) + counts.get("presence_events", 0)
    summary: dict[str, Any] = {
        "scenario": scenario,
        "workers": workers,
        "devices": {"expected": expected_devices, "ready": counts.get("ready", 0),
                    "connected": counts.get("connected", 0)},
        "duration_s": round(duration, 3),
        "clock_offset_ms": clock_offset_ms,
        "published": counts.get("published", 0) + counts.get("presence_ops", 0),
        "acked": counts.get("acked", 0),
        "nacked": counts.get("nacked", 0),
        "delivered": delivered,
        "publish_rate": round(counts.get("published", 0) / duration, 1) if duration else 0.0,
        "delivery_rate": round(delivered / duration, 1) if duration else 0.0,
        "late_publishes": counts.get("late_publishes", 0),
        "latency_ms": {k: hist[k].summary_ms() for k in HISTOGRAMS},
        "accounting": accounting,
        "errors": dict(sorted(errors.items())),
        "error_total": sum(errors.values()),
        "per_worker": per_worker,
        "bottleneck": any(w["bottleneck"] for w in per_worker),
    }
    if storm_dropped:
        summary["storm"] = {"dropped": storm_dropped, "all_resumed_s": storm_all,
                            "resumed": counts.get("resumed", 0), "resume_failed": counts.get("resume_failed", 0),
                            "resume_errors": counts.get("resume_errors", 0),
                            "attach_not_resumed": counts.get("attach_not_resumed", 0)}
    if summary["bottleneck"]:
        summary["warning"] = ("a worker was the bottleneck (CPU >= 90% of a core or event-loop lag p99 >= 50 ms): "
                              "its latencies include its own queueing; add workers (--processes or more "
                              "`tether-load --worker`) before trusting these figures")
    return summary


def _account(finals: dict[str, dict[str, Any]], ledgers: dict[tuple[str, str], list[int]]) -> dict[str, Any]:
    by_channel: dict[str, list[tuple[str, int, int]]] = collections.defaultdict(list)
    for (c, p), (sent, acked, _nacked) in ledgers.items():
        by_channel[c].append((p, sent, acked))
    subs = expected = received = lost = dups = reordered = unacked = lossy = 0
    for rep in finals.values():
        for channels, rows, n in rep["outcomes"]:
            seen = {(c, p): (distinct, top, dup, reo) for c, p, distinct, top, dup, reo in rows}
            sub_lost = 0
            for c in channels:
                for p, sent, acked in by_channel.get(c, ()):
                    distinct, _top, dup, reo = seen.pop((c, p), (0, 0, 0, 0))
                    expected += acked * n
                    received += distinct * n
                    dups += dup * n
                    reordered += reo * n
                    sub_lost += max(0, acked - distinct)
                    unacked += max(0, distinct - acked) * n
            for distinct, _top, dup, reo in seen.values():  # from an origin with no ledger: still counted
                received += distinct * n
                dups += dup * n
                reordered += reo * n
            subs += n
            lost += sub_lost * n
            lossy += n if sub_lost else 0
    return {"subscribers": subs, "expected": expected, "received": received, "lost": lost,
            "loss_pct": round(100 * lost / expected, 4) if expected else 0.0,
            "duplicates": dups, "reordered": reordered, "delivered_unacked": unacked,
            "subscribers_with_loss": lossy}


_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
_RULE = re.compile(r"^\s*([a-z_.0-9]+)\s*(>=|<=|==|>|<)\s*([0-9.]+)\s*(ms|%|s)?\s*$")


def metric(summary: dict[str, Any], name: str) -> float:
    """The value `--fail-on` compares: delivery latency percentiles, accounting, errors, rates."""
    lat = summary["latency_ms"]
    acc = summary["accounting"]
    if name in ("p50", "p90", "p99", "p99.9", "max", "mean"):
        return float(lat["deliver"][name])
    head, _, pct = name.partition("_")
    if head in lat and pct in ("p50", "p90", "p99", "p99.9", "max", "mean"):
        return float(lat[head][pct])
    table = {"loss": acc["lost"], "loss_pct": acc["loss_pct"], "dup": acc["duplicates"],
             "reorder": acc["reordered"], "errors": summary["error_total"], "nacked": summary["nacked"],
             "delivery_rate": summary["delivery_rate"], "publish_rate": summary["publish_rate"],
             "not_ready": summary["devices"]["expected"] - summary["devices"]["ready"],
             "resume_failed": summary.get("storm", {}).get("resume_failed", 0),
             "storm_s": summary.get("storm", {}).get("all_resumed_s", 0.0),
             "bottleneck": int(summary["bottleneck"])}
    if name not in table:
        raise ValueError(f"unknown --fail-on metric {name!r}; one of: p50 p90 p99 p99.9 max mean, "
                         f"<hist>_<pct> (hist: {' '.join(lat)}), {' '.join(table)}")
    return float(table[name])


def parse_rules(text: str) -> list[tuple[str, str, float]]:
    rules = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = _RULE.match(part)
        if not m:
            raise ValueError(f"bad --fail-on rule {part!r}: expected e.g. p99>50ms, loss>0, loss_pct>0.1%")
        rules.append((m.group(1), m.group(2), float(m.group(3)) * (1000 if m.group(4) == "s" else 1)))
    return rules


def failures(summary: dict[str, Any], rules: list[tuple[str, str, float]]) -> list[str]:
    """The rules that hold (each one is a failure condition)."""
    out = []
    for name, op, limit in rules:
        value = metric(summary, name)
        if _OPS[op](value, limit):
            out.append(f"{name}={value:g} {op} {limit:g}")
    return out


def render(summary: dict[str, Any]) -> str:
    """The human-readable end of run report."""
    lat, acc = summary["latency_ms"], summary["accounting"]
    d = lat["deliver"]
    lines = [
        f"tether-load {summary['scenario']}: {summary['workers']} worker(s), "
        f"{summary['devices']['ready']}/{summary['devices']['expected']} devices ready, {summary['duration_s']} s",
        f"  published {summary['published']} (acked {summary['acked']}, nacked {summary['nacked']}), "
        f"{summary['publish_rate']}/s; delivered {summary['delivered']}, {summary['delivery_rate']}/s",
        f"  delivery latency ms: p50 {d['p50']} p90 {d['p90']} p99 {d['p99']} p99.9 {d['p99.9']} max {d['max']}"
        f" (n={d['count']})",
    ]
    for k in ("connect", "attach", "ack", "sync", "resume"):
        if lat[k]["count"]:
            lines.append(f"  {k} ms: p50 {lat[k]['p50']} p99 {lat[k]['p99']} max {lat[k]['max']} (n={lat[k]['count']})")
    lines.append(f"  accounting: {acc['subscribers']} subscribers, expected {acc['expected']}, received "
                 f"{acc['received']}, lost {acc['lost']} ({acc['loss_pct']}%), duplicates {acc['duplicates']}, "
                 f"reordered {acc['reordered']}, subscribers with loss {acc['subscribers_with_loss']}")
    if "storm" in summary:
        s = summary["storm"]
        lines.append(f"  storm: {s['dropped']} dropped, all back in {s['all_resumed_s']} s, resumed {s['resumed']}, "
                     f"resume failed {s['resume_failed']}, errors {s['resume_errors']}, "
                     f"re-attached without RESUMED {s['attach_not_resumed']}")
    lines.append(f"  errors: {summary['errors'] or 'none'}")
    for w in summary["per_worker"]:
        lines.append(f"  worker {w['node']} pid {w['pid']}: cpu max {w['cpu_max']}% mean {w['cpu_mean']}%, "
                     f"loop lag p99 {w['loop_lag_ms']['p99']} ms{'  <- BOTTLENECK' if w['bottleneck'] else ''}")
    if "warning" in summary:
        lines.append("  WARNING: " + summary["warning"])
    return "\n".join(lines)
