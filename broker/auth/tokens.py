"""Ably JWTs (§9.3): issuing them for requestToken and the CLI, and verifying them.

Only HS256 with a configured key's secret is accepted; the `kid` header names the key.
pyjwt's JWS layer checks the signature; claims and times are checked here, in milliseconds
against an injected clock.
`exp` may be fractional (RFC 7519 NumericDate allows it): issued tokens use that to honour a
sub-second ttl exactly, with no private claim.

Error codes, all in the renewable 4014x range so an SDK with authCallback/authUrl fetches a
fresh token (once immediately, then on its disconnected retry timer) instead of failing:
expired => 40142; everything else wrong with the JWT (not parseable, not HS256, unknown
`kid`, bad signature, `nbf` in the future, malformed claims or capability) => 40144. A
renewable code lets clients recover on their own once the operator fixes the key or clock,
and never grants anything. Capability wider than the key is narrowed to the intersection;
an empty intersection => 40160. In-band AUTH remaps these to fatal codes (see context.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

from ..protocol.errors import AblyError
from .capability import Capability
from .keys import ApiKey, KeyStore

ALGORITHM = "HS256"
DEFAULT_TTL_MS = 60 * 60 * 1000
MAX_TTL_MS = 24 * 60 * 60 * 1000
MAX_TOKEN_LENGTH = 128 * 1024
CAPABILITY_CLAIM = "x-ably-capability"
CLIENT_ID_CLAIM = "x-ably-clientId"


class _HS256(HMACAlgorithm):
    """HS256 without pyjwt's short-key warning: key length is the operator's choice (Ably
    secrets are long, test keys short), and the warning would fire on every token."""

    def check_key_length(self, key: bytes) -> str | None:
        return None


# A JWS codec that knows HS256 and nothing else (not even `none`): a second lock against
# algorithm confusion behind the explicit header check in verify_jwt.
_JWS = jwt.PyJWS(algorithms=[])
_JWS.register_algorithm(ALGORITHM, _HS256(HMACAlgorithm.SHA256))

@dataclass(frozen=True, slots=True)
class TokenDetails:
    """A verified or freshly issued token; times are ms since the epoch."""

    token: str
    key_name: str
    issued: int
    expires: int
    capability: Capability
    client_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "token": self.token,
            "keyName": self.key_name,
            "issued": self.issued,
            "expires": self.expires,
            "capability": self.capability.to_json(),
        }
        if self.client_id is not None:
            wire["clientId"] = self.client_id
        return wire


def invalid_jwt(message: str) -> AblyError:
    return AblyError(40144, 401, f"Invalid JWT: {message}")


def token_expired() -> AblyError:
    return AblyError(40142, 401, "Token expired")


def check_ttl(ttl_ms: int) -> None:
    if ttl_ms <= 0 or ttl_ms > MAX_TTL_MS:
        raise AblyError(40003, 400, f"Token ttl must be between 1 ms and {MAX_TTL_MS} ms (24 h), got {ttl_ms}")


def check_client_id(client_id: object) -> None:
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise AblyError(40012, 400, "clientId must be a non-empty string")


def narrow(requested: Capability | None, key: ApiKey) -> Capability:
    """The capability a token may carry: requested ∩ key (the key's own when not requested)."""
    if requested is None:
        return key.capability
    granted = requested.intersect(key.capability)
    if not granted:
        raise AblyError(40160, 401, "Requested capability is not permitted by the key's capability")
    return granted


def _seconds(ms: int) -> int | float:
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def issue_token(key: ApiKey, client_id: str | None, capability: Capability | None,
                ttl_ms: int, now_ms: int) -> TokenDetails:
    """Sign an Ably JWT with the key; capability is narrowed to the key's."""
    check_ttl(ttl_ms)
    check_client_id(client_id)
    granted = narrow(capability, key)
    expires = now_ms + ttl_ms
    claims: dict[str, Any] = {
        "iat": now_ms // 1000,
        "exp": _seconds(expires),
        CAPABILITY_CLAIM: granted.to_json(),
    }
    if client_id is not None:
        claims[CLIENT_ID_CLAIM] = client_id
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    token = _JWS.encode(payload, key.secret.encode(), algorithm=ALGORITHM, headers={"kid": key.name, "typ": "JWT"})
    return TokenDetails(token, key.name, now_ms, expires, granted, client_id)


def _time_ms(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid_jwt(f"'{name}' claim must be a number of seconds")
    return round(value * 1000)


def _required_time_ms(claims: dict[str, Any], name: str) -> int:
    value = _time_ms(claims, name)
    if value is None:
        raise invalid_jwt(f"missing '{name}' claim")
    return value


def _signed_claims(store: KeyStore, token: str) -> tuple[ApiKey, dict[str, Any]]:
    """The key named by `kid` and the claims, once the HS256 signature checks out."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid_jwt("token longer than 128 KiB")
    try:
        header = _JWS.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise invalid_jwt("not a parseable JWT") from exc
    if header.get("alg") != ALGORITHM:
        raise invalid_jwt(f"algorithm {header.get('alg')!r} not accepted, only {ALGORITHM}")
    kid = header.get("kid")
    key = store.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise invalid_jwt(f"unknown key {kid!r} in 'kid' header")
    try:
        payload = _JWS.decode(token, key.secret.encode(), algorithms=[ALGORITHM])
    except jwt.InvalidSignatureError as exc:
        raise invalid_jwt("signature verification failed") from exc
    except jwt.PyJWTError as exc:
        raise invalid_jwt(str(exc)) from exc
    try:
        claims = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise invalid_jwt("claims are not JSON") from exc
    if not isinstance(claims, dict):
        raise invalid_jwt("claims must be a JSON object")
    return key, claims


def _capability_claim(claims: dict[str, Any]) -> Capability | None:
    value = claims.get(CAPABILITY_CLAIM)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_jwt(f"'{CAPABILITY_CLAIM}' must be a JSON string")
    try:
        return Capability.parse(value)
    except AblyError as exc:
        raise invalid_jwt(f"'{CAPABILITY_CLAIM}': {exc.message}") from exc


def verify_jwt(store: KeyStore, token: str, now_ms: int) -> TokenDetails:
    """Verify an Ably JWT and return what it grants; raises AblyError (4014x, 40160)."""
    key, claims = _signed_claims(store, token)
    issued = _required_time_ms(claims, "iat")
    expires = _required_time_ms(claims, "exp")
    not_before = _time_ms(claims, "nbf")
    if now_ms >= expires:
        raise token_expired()
    if not_before is not None and now_ms < not_before:
        raise invalid_jwt("token not yet valid ('nbf' is in the future)")
    client_id = claims.get(CLIENT_ID_CLAIM)
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise invalid_jwt(f"'{CLIENT_ID_CLAIM}' must be a non-empty string")
    return TokenDetails(token, key.name, issued, expires, narrow(_capability_claim(claims), key), client_id)
