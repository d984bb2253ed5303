"""What a message may carry: only values every subscriber can decode, whatever its format.

One publish fans out as JSON and as msgpack and is stored, so a value that either format
cannot carry would reach some subscribers (or history) broken, or break the frame for all.
Checked once at ingest; the error names the field. The wire accepts:

- strings that are valid Unicode (no lone surrogates, which UTF-8 cannot encode);
- finite floats (JSON has no NaN or Infinity);
- integers from -2^63 to 2^64-1 (msgpack's range);
- objects with string keys, arrays, booleans and null, nested at most MAX_DEPTH deep;
- bytes only where Ably allows binary: a message's `data`, never inside `extras` or a
  JSON-encoded object.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import AblyError

MAX_DEPTH = 64
INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1


def invalid_value(field: str, why: str) -> AblyError:
    return AblyError(40000, 400, f"Invalid value in {field}: {why}")


def check_text(value: str, field: str) -> str:
    """A string UTF-8 can encode; JSON's lone-surrogate escapes and bad msgpack bytes cannot."""
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise invalid_value(field, "not valid UTF-8 text (a lone surrogate or undecodable bytes)") from None
    return value


def check_portable(value: Any, field: str) -> None:
    """Raise a 40000 naming the first place in `value` that JSON or msgpack cannot carry.

    Iterative, so a hostile nesting depth costs a bounded stack and a clear error."""
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            check_text(item, path)
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise invalid_value(path, "integer out of range (-2^63 to 2^64-1)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise invalid_value(path, f"{item!r} is not a JSON number")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise invalid_value(path, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, list):
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
                continue
            for key, v in item.items():
                if not isinstance(key, str):
                    raise invalid_value(path, f"object keys must be strings, not {type(key).__name__}")
                check_text(key, f"{path} key")
                stack.append((v, f"{path}.{key[:40]}", depth + 1))
        elif isinstance(item, (bytes, bytearray)):
            raise invalid_value(path, "binary is only allowed as a message's data")
        else:
            raise invalid_value(path, f"unsupported type {type(item).__name__}")


def check_int64(value: int, field: str, minimum: int = 0, code: int = 40000) -> int:
    """An integer field (timestamps, serials; 40003 for query parameters) the stores can hold."""
    if not minimum <= value <= INT64_MAX:
        raise AblyError(code, 400, f"{field} must be between {minimum} and {INT64_MAX}, not {value}")
    return value
