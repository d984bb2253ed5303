"""Capabilities: which operations a credential may perform on which channels (§9.4)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from ..protocol.actions import DEFAULT_MODES, MODE_MASK, Flag
from ..protocol.errors import AblyError
from .resources import Pattern, meet, parse_pattern, within

ALL = "*"

OPERATIONS: frozenset[str] = frozenset({
    "publish", "subscribe", "presence", "history",
    "message-update-own", "message-update-any", "message-delete-own", "message-delete-any",
    "annotation-publish", "annotation-subscribe", "object-publish", "object-subscribe",
    "channel-metadata", "stats", "push-subscribe", "push-admin", "privileged-headers",
})

# Channel mode bits each operation unlocks at attach time.
MODE_GRANTS: dict[str, Flag] = {
    "publish": Flag.PUBLISH,
    "subscribe": Flag.SUBSCRIBE | Flag.PRESENCE_SUBSCRIBE,
    "presence": Flag.PRESENCE,
    "annotation-publish": Flag.ANNOTATION_PUBLISH,
    "annotation-subscribe": Flag.ANNOTATION_SUBSCRIBE,
    "object-publish": Flag.OBJECT_PUBLISH,
    "object-subscribe": Flag.OBJECT_SUBSCRIBE,
}


def js_sort_key(text: str) -> bytes:
    """Order strings by UTF-16 code units, as JavaScript's default sort does (ably-js c14n)."""
    return text.encode("utf-16-be", "surrogatepass")


def _malformed(message: str) -> AblyError:
    return AblyError(40000, 400, f"Invalid capability: {message}")


def _ops_intersection(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    if ALL in a:
        return b
    if ALL in b:
        return a
    return a & b


ALLOWED_CACHE = 1024


class Capability:
    """An immutable resource -> operations map.

    Unknown operation names are kept (a newer SDK may send them) but gate nothing here, so
    they can never widen access.
    """

    __slots__ = ("_allowed", "_grants", "_patterns")

    def __init__(self, grants: Mapping[str, frozenset[str]]) -> None:
        self._grants: dict[str, frozenset[str]] = {r: ops for r, ops in grants.items() if ops}
        self._patterns: list[tuple[Pattern, frozenset[str]]] = [
            (parse_pattern(r), ops) for r, ops in self._grants.items()
        ]
        self._allowed: dict[tuple[str, str], bool] = {}  # every publish asks again: remember answers

    @classmethod
    def parse(cls, value: str | Mapping[str, Any]) -> Capability:
        """From a JSON string or a dict; anything malformed raises 40000."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError) as exc:
                raise _malformed("not valid JSON") from exc
        if not isinstance(value, Mapping):
            raise _malformed("must be a JSON object of resource -> [operations]")
        grants: dict[str, frozenset[str]] = {}
        for resource, ops in value.items():
            if not isinstance(resource, str) or not resource:
                raise _malformed("resource names must be non-empty strings")
            if not isinstance(ops, list) or not ops:
                raise _malformed(f"operations for {resource!r} must be a non-empty array")
            if not all(isinstance(op, str) and op for op in ops):
                raise _malformed(f"operations for {resource!r} must be non-empty strings")
            grants[resource] = frozenset(ops)
        return cls(grants)

    @classmethod
    def everything(cls) -> Capability:
        return cls({ALL: frozenset({ALL})})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Capability) and self._grants == other._grants

    def __hash__(self) -> int:
        return hash(frozenset(self._grants.items()))

    def __repr__(self) -> str:
        return f"Capability({self.to_json()})"

    def __bool__(self) -> bool:
        return bool(self._grants)

    def __iter__(self) -> Iterator[str]:
        return iter(self._grants)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            resource: sorted(self._grants[resource], key=js_sort_key)
            for resource in sorted(self._grants, key=js_sort_key)
        }

    def to_json(self) -> str:
        """Canonical form, byte-identical to ably-js `c14n` (sorted keys and ops, no spaces)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    def operations(self, channel: str) -> frozenset[str]:
        """Union of the operations of every resource matching `channel`; `*` expands to all."""
        ops: set[str] = set()
        for pattern, granted in self._patterns:
            if pattern.matches(channel):
                ops |= granted
        if ALL in ops:
            ops.discard(ALL)
            ops |= OPERATIONS
        return frozenset(ops)

    def allows(self, channel: str, operation: str) -> bool:
        key = (channel, operation)
        answer = self._allowed.get(key)
        if answer is None:
            answer = any((operation in granted or ALL in granted) and pattern.matches(channel)
                         for pattern, granted in self._patterns)
            if len(self._allowed) >= ALLOWED_CACHE:
                self._allowed.clear()
            self._allowed[key] = answer
        return answer

    def modes_for(self, channel: str, requested: int) -> Flag:
        """Granted ATTACH mode bits: requested (or the default set) ∩ what operations permit."""
        wanted = Flag(requested & MODE_MASK) or DEFAULT_MODES
        permitted = Flag(0)
        for op in self.operations(channel):
            permitted |= MODE_GRANTS.get(op, Flag(0))
        return wanted & permitted

    def intersect(self, other: Capability) -> Capability:
        """Per-resource, per-operation intersection (token ∩ key); may be empty."""
        grants: dict[str, frozenset[str]] = {}
        for pa, ops_a in self._patterns:
            for pb, ops_b in other._patterns:
                common = meet(pa, pb)
                ops = _ops_intersection(ops_a, ops_b)
                if common is None or not ops:
                    continue
                resource = common.render()
                merged = grants.get(resource, frozenset()) | ops
                grants[resource] = frozenset({ALL}) if ALL in merged else merged
        return Capability(grants)

    def is_subset_of(self, other: Capability) -> bool:
        """Conservative: True only if each resource+op is covered by a single resource of `other`."""
        for pa, ops_a in self._patterns:
            for op in ops_a:
                if not any(
                    within(pa, pb) and (op in ops_b or ALL in ops_b) for pb, ops_b in other._patterns
                ):
                    return False
        return True

    def wider_than(self, other: Capability) -> bool:
        return not self.is_subset_of(other)
