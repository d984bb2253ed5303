"""Summarise py-spy collapsed stacks (`--format raw`): where a process spends its samples.

Run: python -m benchmarks.stacks FILE [--top 25]
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path


def summarise(text: str) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """(total samples, self samples per frame, inclusive samples per frame)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return total, own, inclusive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    total, own, inclusive = summarise(args.file.read_text())
    print(f"{total} samples")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\n{title}:")
        for frame, n in counter.most_common(args.top):
            print(f"  {100 * n / max(1, total):5.1f}%  {frame}")


if __name__ == "__main__":
    main()
