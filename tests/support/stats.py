"""Reading Ably stats in tests: interval entries added up, so traffic that straddles the end of
a minute (or hour) still counts once."""

from __future__ import annotations


def totals(items: list[dict[str, int]]) -> dict[str, int]:
    """Counts summed over the intervals, peaks at their maximum."""
    out: dict[str, int] = {}
    for entries in items:
        for name, value in entries.items():
            out[name] = max(out.get(name, 0), value) if name.endswith(".peak") else out.get(name, 0) + value
    return out
