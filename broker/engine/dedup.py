"""Idempotent publishing: a client-supplied message id is stored once per channel within a window.

Engines call `claim` synchronously inside `append`, before they assign a position, so two
publishes carrying the same id can never both be appended, even when the second arrives
while the first is still being committed. A claim splits a publish into `fresh` messages (to
append) and repeats (answered with the serial of the earlier copy). The engine reports the
fate of the fresh part with `committed` or `failed`; a failed first copy frees its ids again
and fails the repeats that were waiting for it, so a later retry can still succeed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..protocol.message import Message
from ..protocol.serial import parse_serial
from .base import Publication

DEFAULT_WINDOW_MS = 120_000


@dataclass(eq=False, slots=True)
class _Seen:
    """One id: its message serial once committed, and repeats waiting for that commit."""

    expires_ms: int
    serial: str | None = None
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass(slots=True)
class Claim:
    channel: str
    messages: list[Message]
    fresh: list[Message]
    repeats: list[tuple[Message, _Seen]]
    created: list[tuple[str, _Seen, Message]]

    def stored_ids(self) -> list[tuple[str, str, str, int]]:
        """(channel, id, serial, expires_ms) rows for the ids this claim stores; serials are stamped."""
        return [(self.channel, key, str(message.serial), seen.expires_ms) for key, seen, message in self.created]


class DedupIndex:
    def __init__(self, window_ms: int = DEFAULT_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._expiry: deque[tuple[int, tuple[str, str], _Seen]] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def claim(self, channel: str, messages: list[Message], keys: Sequence[str | None] | None, now_ms: int) -> Claim:
        if keys is not None and len(keys) != len(messages):
            raise ValueError(f"{len(keys)} idempotency keys for {len(messages)} messages")
        if not keys or self.window_ms <= 0 or all(key is None for key in keys):
            return Claim(channel, messages, messages, [], [])
        self.expire(now_ms)
        fresh: list[Message] = []
        repeats: list[tuple[Message, _Seen]] = []
        created: list[tuple[str, _Seen, Message]] = []
        for message, key in zip(messages, keys):
            seen = self._seen.get((channel, key)) if key is not None else None
            if seen is not None:
                repeats.append((message, seen))
                continue
            fresh.append(message)
            if key is not None:
                seen = _Seen(now_ms + self.window_ms)
                self._remember(channel, key, seen)
                created.append((key, seen, message))
        return Claim(channel, messages, fresh, repeats, created)

    def committed(self, claim: Claim) -> None:
        """The fresh messages are durable (their serials are stamped): settle the ids they carry."""
        for _, seen, message in claim.created:
            seen.serial = message.serial
            for waiter in seen.waiters:
                if not waiter.done():
                    waiter.set_result(None)
            seen.waiters.clear()

    def failed(self, claim: Claim, error: BaseException) -> None:
        """The fresh messages were not stored: forget their ids and fail whoever waited on them."""
        for key, seen, _ in claim.created:
            if self._seen.get((claim.channel, key)) is seen:
                del self._seen[(claim.channel, key)]
            for waiter in seen.waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            seen.waiters.clear()

    async def outcome(self, claim: Claim, fresh: Publication | None) -> Publication:
        """The publish as the caller sees it: every message stamped, repeats with their first serial."""
        for message, seen in claim.repeats:
            if seen.serial is None:
                waiter = asyncio.get_running_loop().create_future()
                seen.waiters.append(waiter)
                await waiter
            position, _ = parse_serial(str(seen.serial))
            message.serial = seen.serial
            message.timestamp = position.ms
        if fresh is not None:
            return Publication(claim.channel, fresh.position, claim.messages)
        first, _ = parse_serial(str(claim.messages[0].serial))
        return Publication(claim.channel, first, claim.messages)

    def forget(self, channels: set[str]) -> None:
        """Drop the ids of logs that were deleted (a dropped scope)."""
        for ident in [ident for ident in self._seen if ident[0] in channels]:
            del self._seen[ident]

    def load(self, channel: str, key: str, serial: str, expires_ms: int) -> None:
        """Restore a committed id from the store (after a restart)."""
        self._remember(channel, key, _Seen(expires_ms, serial))

    def expire(self, now_ms: int) -> None:
        while self._expiry and self._expiry[0][0] <= now_ms:
            _, ident, seen = self._expiry.popleft()
            if seen.serial is None:
                self._expiry.append((now_ms + self.window_ms, ident, seen))
                break
            if self._seen.get(ident) is seen:
                del self._seen[ident]

    def _remember(self, channel: str, key: str, seen: _Seen) -> None:
        self._seen[(channel, key)] = seen
        self._expiry.append((seen.expires_ms, (channel, key), seen))
