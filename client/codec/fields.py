"""Typed header fields: one binding of a codec-tier key to its value type, read and written symmetrically.

The key is both the wire header and the property name on the event a descriptor reads from or
rebuilds. `write` skips None and values of the wrong type, so an absent value is never written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .headers import json_stringify, parse_json


@dataclass(frozen=True, slots=True)
class HeaderField:
    key: str
    read: Callable[[dict[str, str]], Any]
    write: Callable[[dict[str, str], Any], None]


def str_field(key: str, default: str | None = None) -> HeaderField:
    def read(headers: dict[str, str]) -> Any:
        value = headers.get(key)
        return value if value is not None else default

    def write(headers: dict[str, str], value: Any) -> None:
        if isinstance(value, str):
            headers[key] = value

    return HeaderField(key, read, write)


def bool_field(key: str, default: bool | None = None) -> HeaderField:
    """"true"/"false" on the wire; any other present value reads as False (as in JS)."""

    def read(headers: dict[str, str]) -> Any:
        value = headers.get(key)
        return value == "true" if value is not None else default

    def write(headers: dict[str, str], value: Any) -> None:
        if isinstance(value, bool):
            headers[key] = "true" if value else "false"

    return HeaderField(key, read, write)


def json_field(key: str) -> HeaderField:
    """JSON-serialised value; malformed JSON reads as absent."""

    def read(headers: dict[str, str]) -> Any:
        ok, value = parse_json(headers.get(key))
        return value if ok else None

    def write(headers: dict[str, str], value: Any) -> None:
        if value is not None:
            headers[key] = json_stringify(value)

    return HeaderField(key, read, write)


def enum_field(key: str, allowed: Sequence[str], fallback: str) -> HeaderField:
    """A closed set of strings; absent or unknown values read as `fallback`."""
    choices = tuple(allowed)

    def read(headers: dict[str, str]) -> Any:
        value = headers.get(key)
        return value if value in choices else fallback

    def write(headers: dict[str, str], value: Any) -> None:
        if isinstance(value, str):
            headers[key] = value

    return HeaderField(key, read, write)


def write_fields(fields: Sequence[HeaderField], kind: str, source: dict[str, Any],
                 keys: Sequence[str] | None = None) -> dict[str, str]:
    """Codec headers for `source`: the dispatch `kind` first, then each declared field (or the `keys` subset)."""
    record: dict[str, str] = {"kind": kind}
    for f in fields:
        if keys is not None and f.key not in keys:
            continue
        f.write(record, source.get(f.key))
    return record


def read_fields(fields: Sequence[HeaderField], headers: dict[str, str]) -> dict[str, Any]:
    """The present field values, keyed by field key (absent ones contribute nothing)."""
    values: dict[str, Any] = {}
    for f in fields:
        value = f.read(headers)
        if value is not None:
            values[f.key] = value
    return values
