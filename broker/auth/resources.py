"""Ably capability resource patterns: matching a channel, and the exact meet of two patterns.

A resource is `[qualifier]name` or `name`. The name is split on `:`; a segment that is exactly
`*` matches any one segment, and a trailing `*` segment matches one or more segments (so `*`
alone matches every unqualified channel and `ns:*` matches `ns:a` and `ns:a:b`). A `*` inside
a segment (`foo*`) is literal. Qualifiers must be equal, except the `[*]` qualifier, which
matches any qualifier and none (so `[*]*` matches everything, `[meta]*` only metachannels).
"""

from __future__ import annotations

from dataclasses import dataclass

WILD = "*"


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed resource; `trailing` means the last segment is `*` and matches 1+ segments."""

    qualifier: str
    segments: tuple[str, ...]
    trailing: bool

    def render(self) -> str:
        name = ":".join(self.segments)
        return f"[{self.qualifier}]{name}" if self.qualifier else name

    def matches(self, channel: str) -> bool:
        qualifier, name = split_qualifier(channel)
        if self.qualifier != WILD and self.qualifier != qualifier:
            return False
        parts = name.split(":")
        if self.trailing:
            fixed = self.segments[:-1]
            if len(parts) < len(self.segments):
                return False
        else:
            fixed = self.segments
            if len(parts) != len(self.segments):
                return False
        return all(seg == WILD or seg == part for seg, part in zip(fixed, parts))


def split_qualifier(text: str) -> tuple[str, str]:
    """`[meta]x` -> ("meta", "x"); `[?rewind=1]x` -> ("", "x"); `x` -> ("", "x")."""
    if text.startswith("["):
        end = text.find("]")
        if end > 0:
            return text[1:end].partition("?")[0], text[end + 1 :]
    return "", text


def parse_pattern(resource: str) -> Pattern:
    qualifier, name = split_qualifier(resource)
    segments = tuple(name.split(":"))
    return Pattern(qualifier, segments, segments[-1] == WILD)


def _meet_segment(a: str, b: str) -> str | None:
    if a == WILD:
        return b
    if b == WILD or a == b:
        return a
    return None


def meet(a: Pattern, b: Pattern) -> Pattern | None:
    """The pattern matching exactly the channels both match, or None when they share none."""
    qualifier = _meet_segment(a.qualifier, b.qualifier)
    if qualifier is None:
        return None
    la, lb = len(a.segments), len(b.segments)
    if a.trailing and b.trailing:
        length, trailing = max(la, lb), True
    elif a.trailing:
        length, trailing = lb, False
        if lb < la:
            return None
    elif b.trailing:
        length, trailing = la, False
        if la < lb:
            return None
    else:
        length, trailing = la, False
        if la != lb:
            return None
    segments: list[str] = []
    for i in range(length):
        # Positions past a trailing pattern's end are covered by its trailing wildcard.
        seg = _meet_segment(a.segments[i] if i < la else WILD, b.segments[i] if i < lb else WILD)
        if seg is None:
            return None
        segments.append(seg)
    return Pattern(qualifier, tuple(segments), trailing)


def within(a: Pattern, b: Pattern) -> bool:
    """True when every channel `a` matches is also matched by `b`."""
    return meet(a, b) == a
