"""Delivery bookkeeping: sequence checks per subscriber and a mergeable latency histogram."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_LOG_STEP = math.log(1.01)  # 1 % wide latency buckets
_MESSAGES_KEY = b"\xa8messages"  # msgpack fixstr "messages"


def count_messages(data: bytes | bytearray, start: int, end: int) -> int:
    """Messages in a msgpack MESSAGE frame, read from the `messages` array header alone.

    The key precedes the message bodies, so `find` stops after the ProtocolMessage's
    header fields and the cost does not grow with the number of coalesced messages.
    Returns -1 when the frame has no `messages` array (a control frame: decode it).
    """
    i = data.find(_MESSAGES_KEY, start, end)
    if i < 0 or i + 9 >= end:
        return -1
    h = data[i + 9]
    if 0x90 <= h <= 0x9F:
        return h & 0x0F
    if h == 0xDC:
        return int.from_bytes(data[i + 10:i + 12], "big")
    if h == 0xDD:
        return int.from_bytes(data[i + 10:i + 14], "big")
    return -1


def message_name(seq: int, sent_ns: int) -> str:
    return f"~b~{seq}~{sent_ns}"


def parse_name(name: str) -> tuple[int, int]:
    """(seq, sent_ns) from a message name made by `message_name`."""
    _, _, seq, sent = name.split("~")
    return int(seq), int(sent)


class SeqCheck:
    """Exact loss / duplicate / reorder accounting for one subscriber's stream of seqs."""

    __slots__ = ("dups", "highest", "reorders", "seen", "unique")

    def __init__(self) -> None:
        self.seen = bytearray(1024)
        self.unique = 0
        self.dups = 0
        self.reorders = 0
        self.highest = -1

    def add(self, seq: int) -> None:
        if seq >= len(self.seen):
            self.seen.extend(bytes(max(seq + 1 - len(self.seen), len(self.seen))))
        if self.seen[seq]:
            self.dups += 1
            return
        self.seen[seq] = 1
        self.unique += 1
        if seq < self.highest:
            self.reorders += 1
        else:
            self.highest = seq

    def missing(self, published: int) -> int:
        """Seqs in [0, published) never received."""
        return published - self.seen.count(1, 0, published)


@dataclass
class LatencyHistogram:
    """Log-bucketed latencies (1 % resolution) that merge across processes by adding counts."""

    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    max_ns: int = 0

    def add(self, ns: int) -> None:
        b = int(math.log(ns) / _LOG_STEP) if ns > 1 else 0
        self.buckets[b] = self.buckets.get(b, 0) + 1
        self.count += 1
        self.max_ns = max(self.max_ns, ns)

    def merge(self, other: LatencyHistogram) -> None:
        for b, c in other.buckets.items():
            self.buckets[b] = self.buckets.get(b, 0) + c
        self.count += other.count
        self.max_ns = max(self.max_ns, other.max_ns)

    def quantile_ns(self, q: float) -> float:
        """Upper edge of the bucket holding quantile q (overstates by at most 1 %)."""
        if not self.count:
            return math.nan
        rank = q * self.count
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return min(math.exp((b + 1) * _LOG_STEP), self.max_ns)
        return float(self.max_ns)
