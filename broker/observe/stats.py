"""Ably's app statistics from cumulative counters: per-interval deltas, sampled, kept in memory.

Nothing on the hot path: `sample` is called about once a second (and before each read) with
the broker's running totals and gauge values. Each unit (minute, hour, day, month) keeps the
totals at the start of each recent interval and the peak of each gauge within it; an
interval's entries are the totals' growth over it. The record starts when the broker does
and is not persisted, so intervals before the start are absent.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Unit = Literal["minute", "hour", "day", "month"]
UNITS: tuple[Unit, ...] = ("minute", "hour", "day", "month")
SCHEMA = "https://schemas.ably.com/json/app-stats-0.0.5.json"
KEEP: dict[Unit, int] = {"minute": 1440, "hour": 24 * 31, "day": 400, "month": 36}
# As the SDKs document intervalId: a day is `YYYY-mm-dd:00`, a month `YYYY-mm-01:00`.
_ID_FORMAT: dict[Unit, str] = {"minute": "%Y-%m-%d:%H:%M", "hour": "%Y-%m-%d:%H", "day": "%Y-%m-%d:00",
                               "month": "%Y-%m-01:00"}


def interval_start(ms: int, unit: Unit) -> datetime:
    """The UTC start of the `unit` interval holding `ms`."""
    t = datetime.fromtimestamp(ms / 1000, UTC)
    if unit == "minute":
        return t.replace(second=0, microsecond=0)
    if unit == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class Interval:
    start: datetime
    first: dict[str, int]  # totals when the interval began (or when the broker started)
    last: dict[str, int]
    peaks: dict[str, int] = field(default_factory=dict)
    last_ms: int = 0

    def entries(self) -> dict[str, int]:
        """Sparse, as Ably's: zero values are left out."""
        out = {k: v - self.first.get(k, 0) for k, v in self.last.items() if v != self.first.get(k, 0)}
        out.update({f"{k}.peak": v for k, v in self.peaks.items() if v})
        return out


class StatsLog:
    def __init__(self) -> None:
        self._units: dict[Unit, OrderedDict[datetime, Interval]] = {u: OrderedDict() for u in UNITS}
        self._totals: dict[str, int] = {}

    def sample(self, now_ms: int, totals: dict[str, int], gauges: dict[str, int]) -> None:
        for unit in UNITS:
            intervals = self._units[unit]
            start = interval_start(now_ms, unit)
            current = intervals.get(start)
            if current is None:
                current = intervals[start] = Interval(start, dict(self._totals), totals)
                while len(intervals) > KEEP[unit]:
                    intervals.popitem(last=False)
            current.last = totals
            current.last_ms = now_ms
            for name, value in gauges.items():
                if value > current.peaks.get(name, 0):
                    current.peaks[name] = value
        self._totals = totals

    def query(self, unit: Unit, start: int | None, end: int | None, backwards: bool, limit: int,
              app_id: str) -> list[dict[str, Any]]:
        """Ably Stats objects for the intervals overlapping [start, end] (ms), newest first if `backwards`."""
        rows = list(self._units[unit].values())
        if start is not None:
            first = interval_start(start, unit)
            rows = [r for r in rows if r.start >= first]
        if end is not None:
            rows = [r for r in rows if r.start.timestamp() * 1000 <= end]
        if backwards:
            rows.reverse()
        newest = max(self._units[unit], default=None)
        return [self._wire(r, unit, app_id, r.start == newest) for r in rows[:limit]]

    @staticmethod
    def _wire(interval: Interval, unit: Unit, app_id: str, in_progress: bool) -> dict[str, Any]:
        stats: dict[str, Any] = {"intervalId": interval.start.strftime(_ID_FORMAT[unit]), "unit": unit,
                                 "schema": SCHEMA, "appId": app_id, "entries": interval.entries()}
        if in_progress:
            stats["inProgress"] = datetime.fromtimestamp(interval.last_ms / 1000, UTC).strftime("%Y-%m-%d:%H:%M:%S")
        return stats
