"""The end-of-run report with plots: PNGs via matplotlib and one self-contained HTML page.

The master keeps a timeline of every worker's per-second delivery histograms (sent with their
progress), binned by second since "go"; the plots are latency over time (p50, p99), the
latency histogram of the whole run, and deliveries per second.
"""

from __future__ import annotations

import base64
import html
import json
import os
from typing import Any

from .metrics import Histogram, bucket_value


class Timeline:
    """Per-second merged delivery histograms, from every worker."""

    def __init__(self) -> None:
        self.bins: dict[int, Histogram] = {}

    def add(self, second: int, hist: Histogram) -> None:
        self.bins.setdefault(max(0, second), Histogram()).merge(hist)

    def series(self) -> tuple[list[int], list[int], list[float], list[float]]:
        seconds = sorted(self.bins)
        hs = [self.bins[s] for s in seconds]
        return (seconds, [h.count for h in hs], [h.quantile(0.5) / 1000 for h in hs],
                [h.quantile(0.99) / 1000 for h in hs])


def write_report(directory: str, summary: dict[str, Any], timeline: Timeline, total: Histogram,
                 text: str) -> list[str]:
    """latency_over_time.png, latency_histogram.png, deliveries.png, report.html and timeline.json in `directory`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    seconds, counts, p50, p99 = timeline.series()
    with open(os.path.join(directory, "timeline.json"), "w") as f:  # the plotted series, for drift checks
        json.dump({"seconds": seconds, "deliveries": counts, "p50_ms": p50, "p99_ms": p99}, f)
    files = []

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(seconds, p50, marker=".", label="p50")
    ax.plot(seconds, p99, marker=".", label="p99")
    ax.set(xlabel="seconds since start", ylabel="delivery latency (ms)", title="Latency over time")
    ax.legend()
    ax.grid(alpha=0.3)
    files.append(_save(fig, directory, "latency_over_time.png"))

    fig, ax = plt.subplots(figsize=(8, 3.5))
    if total.count:
        xs = sorted(total.buckets)
        widths = [_width_ms(i) for i in xs]  # buckets widen with each power of two: plot a density
        ax.bar([bucket_value(i) / 1000 for i in xs], [total.buckets[i] / w for i, w in zip(xs, widths)],
               width=widths)
        ax.set_xscale("log")
    ax.set(xlabel="delivery latency (ms, log)", ylabel="deliveries per ms of latency", title="Latency histogram")
    ax.grid(alpha=0.3)
    files.append(_save(fig, directory, "latency_histogram.png"))

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(seconds, counts, marker=".")
    ax.set(xlabel="seconds since start", ylabel="deliveries/s", title="Deliveries per second")
    ax.grid(alpha=0.3)
    files.append(_save(fig, directory, "deliveries.png"))

    images = "".join(
        f'<img alt="{os.path.basename(f)}" src="data:image/png;base64,'
        f'{base64.b64encode(open(f, "rb").read()).decode()}"><br>' for f in files)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>tether-load {html.escape(summary['scenario'])}"
            f"</title></head><body style='font-family:sans-serif'><h1>tether-load: {html.escape(summary['scenario'])}"
            f"</h1><pre>{html.escape(text)}</pre>{images}<h2>Summary (JSON)</h2><pre>"
            f"{html.escape(json.dumps(summary, indent=2))}</pre></body></html>")
    path = os.path.join(directory, "report.html")
    with open(path, "w") as f:
        f.write(page)
    plt.close("all")
    return [*files, path]


def _width_ms(index: int) -> float:
    shift = max(0, (index >> 6) - 1)
    return (1 << shift) / 1000


def _save(fig: Any, directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
