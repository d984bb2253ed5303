"""Query parameters shared by the REST endpoints: integers and page limits, one parser each."""

from __future__ import annotations

from ..protocol.errors import invalid_param

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def int_param(query: dict[str, str], name: str, default: int | None = None) -> int | None:
    """An integer parameter; absent or empty gives `default`, anything else not an integer is 40003."""
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise invalid_param(f"{name} must be an integer, not {value!r}") from None


def limit_param(query: dict[str, str]) -> int:
    """`limit`: DEFAULT_LIMIT when absent, else 1..MAX_LIMIT (40003 outside)."""
    limit = int_param(query, "limit", DEFAULT_LIMIT)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise invalid_param(f"limit must be between 1 and {MAX_LIMIT}")
    return limit
