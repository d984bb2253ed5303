"""The realtime client: one connection, its channels, and a REST client sharing the credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import httpx

from ..auth import Auth
from ..options import DEFAULT_HOST, AuthCallback, ClientOptions, Timeouts
from ..rest import Rest
from ..types import TokenDetails, TokenParams
from ..wire import Format
from .channel import Channels
from .connection import Connection


class Realtime:
    """`async with Realtime(key=..., host=..., port=..., tls=False) as client:` — connected on entry,
    closed on exit.
    """

    def __init__(self, key: str | None = None, *, token: str | TokenDetails | None = None,
                 auth_callback: AuthCallback | None = None, auth_url: str | None = None,
                 auth_method: Literal["GET", "POST"] = "GET", auth_headers: Mapping[str, str] | None = None,
                 auth_params: Mapping[str, str] | None = None, use_token_auth: bool = False,
                 default_token_params: TokenParams | None = None, client_id: str | None = None,
                 host: str = DEFAULT_HOST, port: int | None = None, tls: bool = True,
                 format: Literal["msgpack", "json"] | Format = Format.MSGPACK, echo_messages: bool = True,
                 transport_params: Mapping[str, str] | None = None, max_message_size: int | None = None,
                 idempotent_rest_publishing: bool = True, timeouts: Timeouts | None = None,
                 http_client: httpx.AsyncClient | None = None, recover: str | None = None) -> None:
        self.options = ClientOptions(
            key=key, token=token, auth_callback=auth_callback, auth_url=auth_url, auth_method=auth_method,
            auth_headers=dict(auth_headers or {}), auth_params=dict(auth_params or {}),
            use_token_auth=use_token_auth, default_token_params=default_token_params, client_id=client_id,
            host=host, port=port, tls=tls, format=Format(format), echo_messages=echo_messages,
            transport_params=dict(transport_params or {}), max_message_size=max_message_size,
            idempotent_rest_publishing=idempotent_rest_publishing, timeouts=timeouts or Timeouts(),
            recover=recover)
        self.rest = Rest.from_options(self.options, http_client)
        self.connection = Connection(self.options, self.rest.auth)
        self.channels = Channels(self)
        self.connection._attach_channels(self.channels)
        self.connection._recover_from(recover)

    @property
    def auth(self) -> Auth:
        return self.rest.auth

    @property
    def client_id(self) -> str | None:
        """This client's identity: configured, or assigned by the server on CONNECTED."""
        return self.auth.client_id

    async def __aenter__(self) -> Realtime:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect and wait for CONNECTED; raises the reason if the attempt ends otherwise."""
        await self.connection.connected()

    async def close(self) -> None:
        """Close the connection (CLOSE/CLOSED) and the HTTP client; the client is done after this.

        To pause and reconnect later, use `connection.close()` and `connection.connect()`.
        """
        await self.connection.close()
        await self.rest.aclose()

    async def time(self) -> int:
        return await self.rest.time()
