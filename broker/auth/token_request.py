"""Signed TokenRequests (§8.5): creating them as ably-js does, and exchanging them for tokens.

Codes: unknown keyName => 40400 (the request names a /keys/{keyName} resource that does not
exist; key names are public, so saying so leaks nothing); bad mac, keyName not matching the
path, or an unsigned request without Basic auth by that key => 40101 (fatal: retrying the same
signer cannot help); timestamp outside ±2 min => 40104; nonce seen before => 40105; ttl
negative, non-numeric or > 24 h => 40003; malformed capability => 40000; empty capability
intersection => 40160; clientId "" => 40012.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from ..protocol.errors import AblyError
from .capability import Capability
from .context import AuthContext, invalid_credentials
from .keys import ApiKey, KeyStore
from .tokens import DEFAULT_TTL_MS, MAX_TTL_MS, TokenDetails, issue_token

TIMESTAMP_WINDOW_MS = 2 * 60 * 1000
MIN_NONCE_LENGTH = 16
MAC_FIELDS = ("ttl", "capability", "clientId", "timestamp", "nonce")

Scalar = str | int | float | None

_DECIMAL = re.compile(r"-?[0-9]{1,20}")


class NonceCache:
    """Nonces accepted within the timestamp window, per key; bounded memory, fails closed.

    A nonce only needs remembering until its request's timestamp leaves the window (after
    that the timestamp check rejects a replay). When `capacity` live nonces are held, new
    requests are refused with 42910 rather than forgetting a live nonce (which would let it
    be replayed). Per process: brokers sharing an engine need a shared store to stop replays
    across processes.
    """

    def __init__(self, capacity: int = 100_000, window_ms: int = TIMESTAMP_WINDOW_MS) -> None:
        self.capacity = capacity
        self.window_ms = window_ms
        self._live: set[tuple[str, str]] = set()
        self._expiry: list[tuple[int, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._live)

    def _prune(self, now_ms: int) -> None:
        while self._expiry and self._expiry[0][0] < now_ms:
            _, entry = heapq.heappop(self._expiry)
            self._live.discard(entry)

    def claim(self, key_name: str, nonce: str, timestamp_ms: int, now_ms: int) -> None:
        """Record a nonce as used; raises 40105 if it was already used within the window."""
        self._prune(now_ms)
        entry = (key_name, nonce)
        if entry in self._live:
            raise AblyError(40105, 401, "Token request nonce has already been used")
        if len(self._live) >= self.capacity:
            raise AblyError(42910, 429, "Too many token requests in the replay window; retry later")
        self._live.add(entry)
        heapq.heappush(self._expiry, (timestamp_ms + self.window_ms, entry))


def _js_text(value: Scalar, falsy_empty: bool) -> str:
    """A field as ably-js concatenates it into the signed text (`x || ''` where it does that)."""
    if value is None or (falsy_empty and value in ("", 0)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mac_text(request: Mapping[str, Any]) -> str:
    """keyName, ttl, capability, clientId, timestamp, nonce, each followed by '\\n'."""
    fields = [
        _js_text(request.get("keyName"), False),
        _js_text(request.get("ttl"), True),
        _js_text(request.get("capability"), True),
        _js_text(request.get("clientId"), True),
        _js_text(request.get("timestamp"), False),
        _js_text(request.get("nonce"), False),
    ]
    return "".join(f"{field}\n" for field in fields)


def sign(request: Mapping[str, Any], secret: str) -> str:
    digest = hmac.new(secret.encode(), mac_text(request).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def create_token_request(key: ApiKey, timestamp_ms: int, *, ttl_ms: int | None = None,
                         capability: str | Mapping[str, Any] | Capability | None = None,
                         client_id: str | None = None, nonce: str | None = None) -> dict[str, Any]:
    """A signed TokenRequest, field for field what ably-js `auth.createTokenRequest` produces."""
    if client_id == "":
        raise AblyError(40012, 400, "clientId can't be an empty string")
    request: dict[str, Any] = {"keyName": key.name}
    if ttl_ms is not None:
        request["ttl"] = ttl_ms
    if capability is not None:
        cap = capability if isinstance(capability, Capability) else Capability.parse(capability)
        request["capability"] = cap.to_json()
    if client_id is not None:
        request["clientId"] = client_id
    request["timestamp"] = timestamp_ms
    request["nonce"] = nonce if nonce is not None else f"{secrets.randbelow(10**16):016d}"
    request["mac"] = sign(request, key.secret)
    return request


def _integer(value: Scalar, name: str) -> int | None:
    """ttl/timestamp as a number or a numeric string (relayed through authUrl query params)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise AblyError(40003, 400, f"Token request {name} must be an integer, got {value!r}")


def _check_shape(body: object) -> tuple[Mapping[str, Any], str, dict[str, Scalar]]:
    if not isinstance(body, Mapping):
        raise AblyError(40001, 400, "Token request body must be an object")
    key_name = body.get("keyName")
    if not isinstance(key_name, str) or not key_name:
        raise AblyError(40001, 400, "Token request needs a keyName")
    fields: dict[str, Scalar] = {}
    for name in (*MAC_FIELDS, "mac"):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int | float | None):
            raise AblyError(40001, 400, f"Token request field {name} must be a string or number")
        fields[name] = value
    return body, key_name, fields


def _authenticate(key: ApiKey, body: Mapping[str, Any], mac: Scalar, caller: AuthContext | None) -> None:
    if mac is None:
        if caller is None or caller.method != "basic" or caller.key_name != key.name:
            raise invalid_credentials("Unsigned token request: authenticate with Basic auth using that key")
        return
    expected = sign(body, key.secret)
    if not isinstance(mac, str) or not hmac.compare_digest(mac.encode(), expected.encode()):
        raise invalid_credentials("Invalid token request mac")


def _check_replay_fields(fields: dict[str, Scalar], now_ms: int) -> tuple[int, str]:
    timestamp = _integer(fields["timestamp"], "timestamp")
    if timestamp is None:
        raise AblyError(40003, 400, "Signed token request needs a timestamp")
    if abs(timestamp - now_ms) > TIMESTAMP_WINDOW_MS:
        raise AblyError(40104, 401, "Timestamp not current: token request is stale or from the future")
    nonce = fields["nonce"]
    if not isinstance(nonce, str) or len(nonce) < MIN_NONCE_LENGTH:
        raise AblyError(40003, 400, f"Token request nonce must be a string of at least {MIN_NONCE_LENGTH} characters")
    return timestamp, nonce


def process_token_request(store: KeyStore, body: object, nonces: NonceCache, now_ms: int,
                          caller: AuthContext | None = None,
                          path_key_name: str | None = None) -> TokenDetails:
    """Validate a TokenRequest (signed, or unsigned from a Basic caller) and issue its token."""
    request, key_name, fields = _check_shape(body)
    if path_key_name is not None and path_key_name != key_name:
        raise invalid_credentials(f"Token request keyName {key_name} does not match the path")
    key = store.get(key_name)
    if key is None:
        raise AblyError(40400, 404, f"No key found with name {key_name}")
    _authenticate(key, request, fields["mac"], caller)
    replay = _check_replay_fields(fields, now_ms) if fields["mac"] is not None else None

    ttl = _integer(fields["ttl"], "ttl") or DEFAULT_TTL_MS
    if ttl < 0 or ttl > MAX_TTL_MS:
        raise AblyError(40003, 400, f"Token ttl must be between 0 and {MAX_TTL_MS} ms (24 h), got {ttl}")
    client_id = fields["clientId"]
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise AblyError(40012, 400, "clientId must be a non-empty string")
    cap_text = fields["capability"]
    capability = Capability.parse(str(cap_text)) if cap_text not in (None, "") else None

    token = issue_token(key, client_id, capability, ttl, now_ms)
    if replay is not None:
        nonces.claim(key.name, replay[1], replay[0], now_ms)
    return token
