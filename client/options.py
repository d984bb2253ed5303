"""Client options shared by the REST and realtime clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import AblyError
from .types import TokenDetails, TokenParams, TokenRequest
from .wire import Format

TokenLike = str | TokenDetails | TokenRequest | dict[str, Any]
AuthCallback = Callable[[TokenParams], Awaitable[TokenLike] | TokenLike]
"""Returns a token string, TokenDetails, or a TokenRequest to exchange; may be sync or async."""

DEFAULT_HOST = "main.realtime.ably.net"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Every wait the library does is bounded by one of these (seconds)."""

    request: float = 10.0  # CONNECTED after open, ATTACHED, DETACHED, CLOSED, ping, presence sync, AUTH
    publish: float = 30.0  # ACK of a publish or presence operation, including time spent queued
    connect: float = 10.0  # opening the WebSocket
    http: float = 10.0  # one REST request
    disconnected_retry: float = 15.0  # base delay between attempts while disconnected (with backoff)
    suspended_retry: float = 30.0  # delay between attempts while suspended
    channel_retry: float = 15.0  # re-attach delay for a suspended channel
    idle_margin: float = 10.0  # silence tolerated beyond the server's maxIdleInterval
    connection_state_ttl: float | None = None  # overrides the server's value: disconnected -> suspended


@dataclass(slots=True)
class ClientOptions:
    key: str | None = None
    token: str | TokenDetails | None = None
    auth_callback: AuthCallback | None = None
    auth_url: str | None = None
    auth_method: Literal["GET", "POST"] = "GET"
    auth_headers: Mapping[str, str] = field(default_factory=dict)
    auth_params: Mapping[str, str] = field(default_factory=dict)
    use_token_auth: bool = False
    default_token_params: TokenParams | None = None
    client_id: str | None = None
    host: str = DEFAULT_HOST
    port: int | None = None
    tls: bool = True
    format: Format = Format.MSGPACK
    echo_messages: bool = True
    transport_params: Mapping[str, str] = field(default_factory=dict)
    max_message_size: int | None = None  # overrides the server's limit for the client-side size check
    idempotent_rest_publishing: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)
    recover: str | None = None  # a recovery key (`connection.create_recovery_key()`) to take over

    def __post_init__(self) -> None:
        self.format = Format(self.format)
        if not (self.key or self.token or self.auth_callback or self.auth_url):
            raise AblyError(40106, 401, "No authentication method: give key, token, auth_callback or auth_url")
        if self.key is not None and (":" not in self.key or "." not in self.key.split(":", 1)[0]):
            raise AblyError(40005, 400, "Invalid key: expected '<appId>.<keyId>:<secret>'")
        if self.client_id == "*":
            raise AblyError(40012, 400, "'*' is not a valid clientId for a client; use a wildcard token instead")

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else (443 if self.tls else 80)

    @property
    def _authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.effective_port}"

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self._authority}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self._authority}/"
