"""`python -m broker token ...`: mint a JWT locally so development needs no token server."""

from __future__ import annotations

import hmac
import re

from ..protocol.errors import AblyError
from .capability import Capability
from .keys import KeyStore, parse_key_spec
from .tokens import issue_token

_TTL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def parse_ttl(text: str) -> int:
    """`1h`, `30m`, `90s`, `500ms`, `1.5h` -> ms. A unit is required: a bare number is ambiguous."""
    match = _TTL.match(text)
    if match is None:
        raise AblyError(40003, 400, f"Invalid ttl {text!r}: use a number with a unit, e.g. 1h, 30m, 90s, 500ms")
    return round(float(match.group(1)) * _UNIT_MS[match.group(2)])


def dev_token(store: KeyStore | None, key_string: str, client_id: str | None,
              capability_json: str | None, ttl_text: str, now_ms: int) -> str:
    """A signed Ably JWT for `key_string` (which may carry a `={capability}` suffix).

    With a store (the broker's configured keys) the key must be one of them, secret included,
    and its configured capability bounds the token; `capability_json` None = the key's own.
    """
    key = parse_key_spec(key_string)
    if store is not None:
        stored = store.get(key.name)
        if stored is None or not hmac.compare_digest(stored.secret.encode(), key.secret.encode()):
            raise AblyError(40101, 401, f"Key {key.name} is not configured on this broker (or its secret differs)")
        key = stored
    capability = Capability.parse(capability_json) if capability_json is not None else None
    return issue_token(key, client_id, capability, parse_ttl(ttl_text), now_ms).token
