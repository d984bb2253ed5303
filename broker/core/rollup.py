"""Append rollup on egress: a token stream's appends coalesced per window before delivery.

A model appends one small fragment per token; without rollup every subscriber gets one frame
per token. A `RollupGroup` holds the appends for the subscriptions of one channel that share a
window choice and releases them as one append per message (the fragments joined, the last
one's extras and version), so the frames are built once per group rather than per token.

Release rules, which keep the latency bounded by the window and the order intact:
- an append to a message that had no delivery within the window goes at once (a stream's
  first append is never delayed), and so does everything held with it;
- otherwise it is held until the window since that message's last delivery ends;
- an append that ends a stream (AI Transport's `status` header other than `streaming`), and any
  publication that is not a held-able append, go at once after whatever is held, so nothing
  overtakes what came before it.

Storage, history, aggregates and resume never see this: only live frames are coalesced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..engine.base import Publication
from ..engine.mutations import concat
from ..protocol.actions import MessageAction
from ..protocol.errors import AblyError
from ..protocol.message import Message

PARAM = "appendRollupWindow"  # Ably's transport parameter; Tether also reads it as a channel param
WINDOWS = (0, 20, 40, 100, 500)  # ms: the values Ably documents (40 is Ably's default)
MAX_HINTS = 4096  # messages whose publisher chose a window, remembered per channel
MAX_TRACKED = 4096  # messages whose last delivery time a group remembers

WindowOf = Callable[[Message], int]
Deliver = Callable[[list[Publication]], None]


def parse_window(value: Any, where: str) -> int:
    """A window in ms from a query or channel parameter; anything else is a clear 40000."""
    text = str(value).strip()
    if text.isdigit() and int(text) in WINDOWS:
        return int(text)
    allowed = ", ".join(str(w) for w in WINDOWS)
    raise AblyError(40000, 400, f"Invalid {PARAM} {value!r} in {where}: use one of {allowed} (ms)")


def ends_stream(message: Message) -> bool:
    """AI Transport marks the append that ends a stream with status complete or cancelled."""
    extras = message.extras
    ai = extras.get("ai") if isinstance(extras, dict) else None
    transport = ai.get("transport") if isinstance(ai, dict) else None
    status = transport.get("status") if isinstance(transport, dict) else None
    return isinstance(status, str) and status != "streaming"


def _append(pub: Publication) -> Message | None:
    """The delivered fragment of a publication that is one append, else None."""
    if pub.aggregates is None or len(pub.messages) != 1:
        return None
    message = pub.messages[0]
    return message if message.action == MessageAction.APPEND and message.serial else None


def _kind(message: Message) -> tuple[bool, str | None] | None:
    """What fragments must share to be joined: data type and encoding (None: no data)."""
    data = message.data
    if data is None or data == "" or data == b"":
        return None
    return isinstance(data, str), message.encoding


def coalesce(held: list[Publication]) -> list[Publication]:
    """One publication per run of joinable appends to a message, ordered by last position.

    Each output is the run's last publication with the fragments' data joined, so its serial,
    version, name and extras are the last append's; ordering by the last position keeps the
    frame's channelSerial (its last publication's) the furthest position it covers.
    """
    runs: list[list[Publication]] = []
    open_run: dict[str, int] = {}
    for pub in held:
        message = pub.messages[0]
        index = open_run.get(message.serial or "")
        if index is not None and _joinable(runs[index], message):
            run = runs.pop(index)
            run.append(pub)
            for serial, i in open_run.items():
                if i > index:
                    open_run[serial] = i - 1
        else:
            run = [pub]
        runs.append(run)
        open_run[message.serial or ""] = len(runs) - 1
    return [_joined(run) for run in runs]


def _joinable(run: list[Publication], message: Message) -> bool:
    kinds = {k for k in (_kind(p.messages[0]) for p in run) if k is not None}
    kind = _kind(message)
    return kind is None or not kinds or kinds == {kind}


def _joined(run: list[Publication]) -> Publication:
    if len(run) == 1:
        return run[0]
    last = run[-1]
    data: str | bytes | None = None
    encoding = last.messages[0].encoding
    for pub in run:
        fragment = pub.messages[0]
        data = concat(data, fragment.data)
        if _kind(fragment) is not None:
            encoding = fragment.encoding
    message = last.messages[0].copy(data=data, encoding=encoding)
    return Publication(last.channel, last.position, [message], last.aggregates)


class RollupGroup:
    """The held appends of one channel's subscriptions that share a window choice."""

    def __init__(self, window_of: WindowOf, deliver: Deliver) -> None:
        self._window_of = window_of  # ms for a message: the group's choice, or the publisher's, or the default
        self._deliver = deliver
        self._held: list[Publication] = []
        self._last_sent: dict[str, float] = {}  # message serial -> loop time of its last append delivered
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def feed(self, pubs: list[Publication]) -> list[Publication]:
        """What to deliver now, in order; the rest is held and released by a timer."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        ready: list[Publication] = []
        for pub in pubs:
            message = _append(pub)
            window = self._window_of(message) / 1000 if message is not None else 0.0
            if message is None or window <= 0:
                ready.extend(self._release(now))
                ready.append(pub)
                continue
            serial = message.serial or ""
            if ends_stream(message):
                self._held.append(pub)
                ready.extend(self._release(now))
                self._last_sent.pop(serial, None)
                continue
            last = self._last_sent.get(serial)
            if last is None or now - last >= window:  # the message's window is open: it goes now
                self._held.append(pub)
                ready.extend(self._release(now))
                continue
            self._held.append(pub)
            due = last + window
            self._deadline = due if self._deadline is None else min(self._deadline, due)
        if self._held:
            self._arm(loop)
        elif self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._deadline = None
        return ready

    def flush(self) -> None:
        """Deliver whatever is held now (a subscription is about to join the group)."""
        if self._held:
            self._deliver(self._release(asyncio.get_running_loop().time()))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held = []

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._deadline is None:
            return
        if self._timer is not None:
            if self._timer.when() <= self._deadline:
                return
            self._timer.cancel()
        self._timer = loop.call_at(self._deadline, self._expired)

    def _expired(self) -> None:
        self._timer = None
        self.flush()

    def _release(self, now: float) -> list[Publication]:
        if not self._held:
            return []
        held, self._held = self._held, []
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        out = coalesce(held)
        for pub in out:
            self._last_sent[pub.messages[0].serial or ""] = now
        while len(self._last_sent) > MAX_TRACKED:
            del self._last_sent[next(iter(self._last_sent))]
        return out
