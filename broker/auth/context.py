"""Who a request or connection is: credentials -> AuthContext, and the clientId rules (§9.5)."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Literal

from ..protocol.errors import AblyError
from .capability import Capability
from .keys import KeyStore
from .tokens import verify_jwt

WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """An authenticated credential.

    client_id: None = anonymous (token without clientId), "*" = may act as any clientId
    (a key, or a wildcard token), anything else = bound to that clientId.
    """

    key_name: str
    capability: Capability
    client_id: str | None
    expires_ms: int | None
    method: Literal["basic", "token"]
    token: str | None = None

    @property
    def app_id(self) -> str:
        """The app whose channels, history and presence this credential reaches."""
        return self.key_name.partition(".")[0]


def invalid_credentials(message: str) -> AblyError:
    return AblyError(40101, 401, message)


def authenticate_basic(store: KeyStore, key_string: str) -> AuthContext:
    """A full key (`name:secret`); every failure is 40101, which the SDKs treat as fatal."""
    name, colon, secret = key_string.partition(":")
    key = store.get(name) if colon else None
    if key is None:
        raise invalid_credentials("Invalid key: unknown key name or not in appId.keyId:secret form")
    if not hmac.compare_digest(secret.encode(), key.secret.encode()):
        raise invalid_credentials(f"Invalid key secret for key {name}")
    return AuthContext(key.name, key.capability, WILDCARD, None, "basic")


def _unwrap_bearer(value: str) -> str:
    """REST sends base64(token) (both SDKs); raw JWTs contain '.', which base64 never does."""
    if "." in value:
        return value
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise AblyError(40144, 401, "Invalid token: neither a JWT nor base64 of one") from exc


def authenticate_bearer(store: KeyStore, token: str, now_ms: int, raw: bool = False) -> AuthContext:
    """A token from `Authorization: Bearer` (base64 or raw) or, with raw=True, `accessToken`."""
    value = token.strip()
    jwt_text = value if raw else _unwrap_bearer(value)
    if jwt_text.count(".") != 2:
        raise AblyError(40143, 401, "Token not recognised: only Ably JWTs are issued by this broker")
    details = verify_jwt(store, jwt_text, now_ms)
    return AuthContext(details.key_name, details.capability, details.client_id, details.expires, "token", jwt_text)


def _check_own_client_id(requested: object) -> None:
    if not isinstance(requested, str) or not requested or requested == WILDCARD:
        raise AblyError(40012, 400, f"Invalid clientId {requested!r}: must be a non-empty string other than '*'")


def resolve_client_id(ctx: AuthContext, requested: str | None) -> str | None:
    """The connection's identity from its credential and `clientId` param/header (§9.5 table)."""
    if requested is None:
        return ctx.client_id
    _check_own_client_id(requested)
    if ctx.client_id == WILDCARD or ctx.client_id == requested:
        return requested
    if ctx.client_id is None:
        raise AblyError(40102, 401, f"Incompatible clientId {requested!r}: the token has no clientId")
    raise AblyError(40102, 401, f"Incompatible clientId {requested!r}: the token is bound to {ctx.client_id!r}")


def _stamp(ctx: AuthContext, connection_client_id: str | None, item_client_id: object) -> str | None:
    # Defence in depth: an identified connection's id must still be the one its credential binds.
    if ctx.client_id not in (None, WILDCARD) and connection_client_id != ctx.client_id:
        raise AblyError(40102, 401, "Connection clientId no longer matches its credential")
    if item_client_id is None:
        return None if connection_client_id == WILDCARD else connection_client_id
    if connection_client_id is None:
        raise AblyError(40012, 400, "An anonymous client may not set a clientId")
    _check_own_client_id(item_client_id)
    if connection_client_id not in (WILDCARD, item_client_id):
        raise AblyError(40012, 400, f"Mismatched clientId {item_client_id!r}: connection is {connection_client_id!r}")
    return item_client_id  # type: ignore[return-value]


def message_client_id(ctx: AuthContext, connection_client_id: str | None, msg_client_id: object) -> str | None:
    """The clientId to stamp on a published message; 40012 for a spoofed or forbidden one."""
    return _stamp(ctx, connection_client_id, msg_client_id)


def presence_client_id(ctx: AuthContext, connection_client_id: str | None, msg_client_id: object) -> str:
    """Like message_client_id, but a presence member must have an identity (91000)."""
    client_id = _stamp(ctx, connection_client_id, msg_client_id)
    if client_id is None:
        raise AblyError(91000, 400, "Unable to enter presence channel without a clientId")
    return client_id


def reauthorise(connection_client_id: str | None, new: AuthContext) -> str | None:
    """In-band AUTH: the new credential must keep the connection's identity, else 40102."""
    if connection_client_id is None or connection_client_id == WILDCARD:
        if new.client_id != connection_client_id:
            raise AblyError(40102, 401, "Incompatible clientId: re-authentication may not change the clientId")
        return connection_client_id
    try:
        return resolve_client_id(new, connection_client_id)
    except AblyError as exc:
        raise AblyError(40102, 401, exc.message) from exc


def for_inband_auth(error: AblyError) -> AblyError:
    """Token errors answering an AUTH message become fatal 40101 so the client fails, not loops (§1.9)."""
    if error.is_token_error:
        return AblyError(40101, 401, error.message)
    return error
