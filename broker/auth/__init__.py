"""Authentication and authorisation: keys, Ably JWTs, TokenRequests, capabilities, clientIds.

Pure functions and dataclasses: no I/O, clocks are injected as `now_ms`.
"""

from .capability import OPERATIONS, Capability
from .context import (
    WILDCARD,
    AuthContext,
    authenticate_basic,
    authenticate_bearer,
    for_inband_auth,
    message_client_id,
    presence_client_id,
    reauthorise,
    resolve_client_id,
)
from .devtoken import dev_token, parse_ttl
from .keys import ApiKey, KeyStore, parse_key_spec
from .token_request import NonceCache, create_token_request, process_token_request
from .tokens import DEFAULT_TTL_MS, MAX_TTL_MS, TokenDetails, issue_token, verify_jwt

__all__ = [
    "DEFAULT_TTL_MS",
    "MAX_TTL_MS",
    "OPERATIONS",
    "WILDCARD",
    "ApiKey",
    "AuthContext",
    "Capability",
    "KeyStore",
    "NonceCache",
    "TokenDetails",
    "authenticate_basic",
    "authenticate_bearer",
    "create_token_request",
    "dev_token",
    "for_inband_auth",
    "issue_token",
    "message_client_id",
    "parse_key_spec",
    "parse_ttl",
    "presence_client_id",
    "process_token_request",
    "reauthorise",
    "resolve_client_id",
    "verify_jwt",
]
