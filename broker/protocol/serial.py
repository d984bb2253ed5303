"""Stream positions and message serials.

A channel position is `<ms:14>-<counter:03>@<epoch>`; a message serial appends `:<index:03>`.
Within one epoch the strings sort in publish order. The epoch names one channel store, so a
cursor from a lost or reset store is recognised instead of being resumed into a new stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import AblyError

_POSITION = re.compile(r"^(\d{14})-(\d{3})@([A-Za-z0-9_-]+)$")
_SERIAL = re.compile(r"^(\d{14})-(\d{3})@([A-Za-z0-9_-]+):(\d{3})$")
COUNTER_LIMIT = 1000
MAX_INDEX = 999


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A point in one channel's stream: `seq` orders positions, `epoch` names the stream."""

    seq: int  # ms * 1000 + counter
    epoch: str

    @property
    def ms(self) -> int:
        return self.seq // COUNTER_LIMIT

    def __str__(self) -> str:
        ms, ctr = divmod(self.seq, COUNTER_LIMIT)
        return f"{ms:014d}-{ctr:03d}@{self.epoch}"

    def serial(self, index: int) -> str:
        return f"{self}:{index:03d}"

    @staticmethod
    def origin(epoch: str) -> Position:
        """The position before any message: the attach point of an empty channel."""
        return Position(0, epoch)


def next_seq(last_seq: int, now_ms: int) -> int:
    """The next sequence after `last_seq`: the clock's ms when it moved on, else one tick on."""
    return max(last_seq + 1, now_ms * COUNTER_LIMIT)


def parse_position(text: str) -> Position:
    m = _POSITION.match(text)
    if not m:
        m = _SERIAL.match(text)
    if not m:
        raise AblyError(40003, 400, f"Invalid channel serial {text!r}")
    return Position(int(m.group(1)) * COUNTER_LIMIT + int(m.group(2)), m.group(3))


def parse_serial(text: str) -> tuple[Position, int]:
    m = _SERIAL.match(text)
    if not m:
        raise AblyError(40003, 400, f"Invalid message serial {text!r}")
    return Position(int(m.group(1)) * COUNTER_LIMIT + int(m.group(2)), m.group(3)), int(m.group(4))


def seq_of_serial(serial: str) -> int:
    """The position seq of a message serial, without validating it (serials we minted)."""
    return int(serial[:14]) * COUNTER_LIMIT + int(serial[15:18])
