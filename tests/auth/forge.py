"""Hand-built JWTs for adversarial tests, made without broker code so a bug there can't hide."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

NOW_MS = 1_718_000_000_123


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: dict[str, Any], claims: dict[str, Any], secret: str | None,
          digest: Any = hashlib.sha256) -> str:
    """A compact JWS; secret None leaves the signature empty (as for alg 'none')."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = b"" if secret is None else hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def ably_claims(**extra: Any) -> dict[str, Any]:
    """Valid claims around NOW_MS: issued now, expiring in an hour."""
    claims: dict[str, Any] = {"iat": NOW_MS // 1000, "exp": NOW_MS // 1000 + 3600}
    claims.update(extra)
    return claims
