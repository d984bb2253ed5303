"""Retention rules: how long, and how many, messages each channel keeps.

A rule is written `[PATTERN] [ttl=DURATION] [max=COUNT]`, e.g. `ttl=1h`, `chat:* max=1000` or
`"logs:* ttl=7d max=100000"`. PATTERN is a shell-style glob on the base channel name
(default `*`); DURATION is seconds or `Ns`, `Nm`, `Nh`, `Nd`. The first rule whose pattern
matches a channel applies; a channel no rule matches keeps everything (the default).

Rules apply to a channel's logs by the channel's name: its messages and its presence history
(each log counted on its own).

Engines trim whole messages from the oldest end and remember, per channel, the highest
position they removed (the *floor*). A client cursor below the floor has lost messages, so a
resume from it is a discontinuity; a cursor at or above it is still complete.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from .presence import log_channel
from .scope import scope_of

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_CACHE_LIMIT = 10_000
_UNIT_MS = {"": 1000, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True, slots=True)
class RetentionRule:
    pattern: str = "*"
    ttl_ms: int | None = None
    max_count: int | None = None


def parse_duration_ms(text: str) -> int:
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"invalid duration {text!r}: use a positive N, Ns, Nm, Nh or Nd")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_rule(spec: str) -> RetentionRule:
    """`[PATTERN] [ttl=DURATION] [max=COUNT]`; at least one of ttl and max."""
    pattern = "*"
    ttl_ms: int | None = None
    max_count: int | None = None
    saw_pattern = False
    for token in spec.split():
        key, eq, value = token.partition("=")
        if eq and key == "ttl":
            ttl_ms = parse_duration_ms(value)
        elif eq and key == "max":
            if not value.isdigit() or int(value) <= 0:
                raise ValueError(f"invalid max {value!r} in retention rule {spec!r}: use a positive count")
            max_count = int(value)
        elif not saw_pattern and not (eq and key in ("ttl", "max")):
            pattern, saw_pattern = token, True
        else:
            raise ValueError(f"unexpected {token!r} in retention rule {spec!r}")
    if ttl_ms is None and max_count is None:
        raise ValueError(f"retention rule {spec!r} sets neither ttl= nor max=")
    return RetentionRule(pattern, ttl_ms, max_count)


@dataclass(slots=True)
class RetentionPolicy:
    rules: tuple[RetentionRule, ...] = ()
    _cache: dict[str, RetentionRule | None] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule_for(self, channel: str) -> RetentionRule | None:
        """The rule for a channel, or for a log key of one (its presence history)."""
        try:
            return self._cache[channel]
        except KeyError:
            pass
        name = log_channel(channel)
        system = scope_of(channel) == ""  # the broker's own logs are kept
        rule = None if system else next((r for r in self.rules if fnmatch.fnmatchcase(name, r.pattern)), None)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[channel] = rule
        return rule

    def max_count(self, channel: str) -> int | None:
        rule = self.rule_for(channel)
        return rule.max_count if rule is not None else None

    def ttl_cutoff_seq(self, channel: str, now_ms: int, counter_limit: int) -> int | None:
        """Positions below this seq have outlived the channel's TTL (None: no TTL)."""
        rule = self.rule_for(channel)
        if rule is None or rule.ttl_ms is None:
            return None
        return (now_ms - rule.ttl_ms) * counter_limit
