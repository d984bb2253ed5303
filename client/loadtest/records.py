"""The payload every load message carries: publish time on a shared clock, origin and sequence.

A record is `"<wall-clock ns, 19 digits> <origin>/<seq> <padding>\\n"`. It is self-describing so
the same parser serves messages, presence data and appends (an append rollup concatenates
records, and each keeps its own timestamp, so latency stays per token). Publisher and
subscriber share a clock when they run on one host; across hosts the report states the offset
(`--clock-offset-ms`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator


def record(origin: str, seq: int, size: int, now_ns: int | None = None) -> str:
    t = time.time_ns() if now_ns is None else now_ns
    head = f"{t:019d} {origin}/{seq} "
    return head + "x" * max(0, size - len(head) - 1) + "\n"


def parse(data: object) -> Iterator[tuple[int, str, int]]:
    """(publish ns, origin, seq) for every record in `data`; foreign data yields nothing."""
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    if not isinstance(data, str):
        return
    for line in data.split("\n"):
        if len(line) < 22 or line[19] != " ":
            continue
        end = line.find(" ", 20)
        ident = line[20:end] if end > 0 else line[20:]
        origin, _, seq = ident.rpartition("/")
        try:
            yield int(line[:19]), origin, int(seq)
        except ValueError:
            continue
