"""Query parameters shared by the REST endpoints: integers, page limits and cursors, one parser each.

Integers are bounded to int64, what the stores hold: a larger value is the client's error (40003),
not the store's (a 500 from SQLite)."""

from __future__ import annotations

import re

from ..protocol.errors import invalid_param

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_CURSOR = re.compile(r"([0-9]{1,19}):([0-9]{1,19})")


def int_param(query: dict[str, str], name: str, default: int | None = None) -> int | None:
    """An integer parameter; absent or empty gives `default`, anything else not an integer is 40003."""
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise invalid_param(f"{name} must be an integer, not {value[:100]!r}") from None
    if not INT64_MIN <= number <= INT64_MAX:
        raise invalid_param(f"{name} must be between {INT64_MIN} and {INT64_MAX}")
    return number


def limit_param(query: dict[str, str]) -> int:
    """`limit`: DEFAULT_LIMIT when absent, else 1..MAX_LIMIT (40003 outside)."""
    limit = int_param(query, "limit", DEFAULT_LIMIT)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise invalid_param(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def cursor_param(query: dict[str, str]) -> tuple[int, int] | None:
    """`cursor`: the `seq:index` of a history page's next item, both non-negative int64 (40003 otherwise)."""
    cursor = query.get("cursor")
    if not cursor:
        return None
    match = _CURSOR.fullmatch(cursor)
    if match is None or int(match[1]) > INT64_MAX or int(match[2]) > INT64_MAX:
        raise invalid_param(f"Invalid cursor {cursor[:100]!r}")
    return int(match[1]), int(match[2])
