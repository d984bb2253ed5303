"""Mergeable measurements: latency histograms, delivery accounting, errors by Ably code.

Everything here is plain data that a worker snapshots, ships to the master as lists and
dicts (Locust sends worker messages as msgpack) and the master merges exactly: histogram
buckets add, counters add, per-subscriber accounting is grouped by identical outcomes so
a thousand subscribers that all received the same messages travel as one entry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_SUB_BITS = 6  # 64 sub-buckets per power of two: every value within 1/64 (1.6 %) of its bucket
_SUB = 1 << _SUB_BITS


def bucket_of(us: int) -> int:
    """Bucket index of a value in microseconds (exact below 64 us, then log-linear)."""
    if us < _SUB:
        return max(us, 0)
    shift = us.bit_length() - _SUB_BITS - 1
    return ((shift + 1) << _SUB_BITS) | ((us >> shift) & (_SUB - 1))


def bucket_value(index: int) -> float:
    """The midpoint of a bucket, in microseconds."""
    if index < _SUB:
        return float(index)
    shift = (index >> _SUB_BITS) - 1
    low = ((index & (_SUB - 1)) | _SUB) << shift
    return low + ((1 << shift) - 1) / 2


class Histogram:
    """Counts of values (microseconds) in log-linear buckets; exact count, sum, min and max."""

    __slots__ = ("buckets", "count", "total", "min", "max")

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0
        self.min: int | None = None
        self.max = 0

    def add(self, us: int) -> None:
        self.buckets[bucket_of(us)] += 1
        self.count += 1
        self.total += us
        if us > self.max:
            self.max = us
        if self.min is None or us < self.min:
            self.min = us

    def take(self) -> Histogram:
        """Move the contents into a new histogram and start empty (holders of `self` keep adding)."""
        out = Histogram()
        out.buckets, out.count, out.total, out.min, out.max = self.buckets, self.count, self.total, self.min, self.max
        self.buckets, self.count, self.total, self.min, self.max = Counter(), 0, 0, None, 0
        return out

    def merge(self, other: Histogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        if other.min is not None:
            self.min = other.min if self.min is None else min(self.min, other.min)

    def quantile(self, q: float) -> float:
        """The q-quantile in microseconds (bucket midpoint, capped at the exact max)."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(bucket_value(index), float(self.max))
        return float(self.max)

    def summary_ms(self) -> dict[str, float | int]:
        """count, mean and the usual percentiles in milliseconds."""
        ms = 1000.0
        return {
            "count": self.count,
            "mean": round(self.total / self.count / ms, 3) if self.count else 0.0,
            "min": round((self.min or 0) / ms, 3),
            "p50": round(self.quantile(0.5) / ms, 3),
            "p90": round(self.quantile(0.9) / ms, 3),
            "p99": round(self.quantile(0.99) / ms, 3),
            "p99.9": round(self.quantile(0.999) / ms, 3),
            "max": round(self.max / ms, 3),
        }

    def to_wire(self) -> list[Any]:
        return [sorted(self.buckets.items()), self.count, self.total, self.min, self.max]

    @classmethod
    def from_wire(cls, data: list[Any]) -> Histogram:
        h = cls()
        pairs, h.count, h.total, h.min, h.max = data
        h.buckets.update({int(k): int(v) for k, v in pairs})
        return h


@dataclass
class Stream:
    """What one subscriber saw of one publisher's sequence on one channel (seqs start at 1)."""

    distinct: int = 0
    top: int = 0
    duplicates: int = 0
    reordered: int = 0
    missing: set[int] = field(default_factory=set)

    def see(self, seq: int) -> None:
        top = self.top
        if seq == top + 1:
            self.top = seq
            self.distinct += 1
        elif seq > top:
            self.missing.update(range(top + 1, seq))
            self.top = seq
            self.distinct += 1
        elif seq in self.missing:
            self.missing.discard(seq)
            self.reordered += 1
            self.distinct += 1
        else:
            self.duplicates += 1


class Subscriber:
    """Per-subscriber accounting: one Stream per (channel, publisher)."""

    __slots__ = ("streams",)

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], Stream] = {}

    def see(self, channel: str, publisher: str, seq: int) -> None:
        key = (channel, publisher)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = Stream()
        stream.see(seq)

    def outcome(self, channels: tuple[str, ...]) -> tuple[Any, ...]:
        """A hashable summary: per stream (channel, publisher, distinct, top, dup, reordered).

        `channels` lists the channels this subscriber was attached to, so one that received
        nothing still says so (an empty tuple would hide total loss).
        """
        rows = tuple(sorted((c, p, s.distinct, s.top, s.duplicates, s.reordered)
                            for (c, p), s in self.streams.items()))
        return (tuple(sorted(channels)), rows)


@dataclass
class Counters:
    """Worker-level counts, added on merge."""

    values: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # Ably error code (or a local kind) -> count

    def error(self, code: int | str, count: int = 1) -> None:
        self.errors[str(code)] += count


def merge_counters(into: Counter[str], data: dict[str, int]) -> None:
    for k, v in data.items():
        into[k] += int(v)
