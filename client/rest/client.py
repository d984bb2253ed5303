"""The REST client: Ably's HTTP API on httpx, usable alone or underneath the realtime client."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeAlias, TypeVar

import httpx

from ..auth import Auth, error_from_response
from ..errors import AblyError
from ..options import DEFAULT_HOST, AuthCallback, ClientOptions, Timeouts
from ..tls import tls_context
from ..types import PaginatedResult, TokenDetails, TokenParams
from ..wire import PROTOCOL_VERSION, Format, pack, unpack
from .channel import RestChannels

T = TypeVar("T")

AGENT = "tether-client/0.1.0"
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="(\w+)"')

Params: TypeAlias = Mapping[str, str | int] | httpx.QueryParams | None


def parse_links(values: list[str]) -> dict[str, str]:
    """rel -> query string of each Link (Ably links are `./<resource>?<query>`)."""
    links: dict[str, str] = {}
    for value in values:
        for url, rel in _LINK.findall(value):
            links[rel] = url.split("?", 1)[1] if "?" in url else ""
    return links


class Rest:
    """`async with Rest(key=...) as rest:` — time, tokens, publish, history, presence, message versions."""

    def __init__(self, key: str | None = None, *, token: str | TokenDetails | None = None,
                 auth_callback: AuthCallback | None = None, auth_url: str | None = None,
                 auth_method: Literal["GET", "POST"] = "GET", auth_headers: Mapping[str, str] | None = None,
                 auth_params: Mapping[str, str] | None = None, use_token_auth: bool = False,
                 default_token_params: TokenParams | None = None, client_id: str | None = None,
                 host: str = DEFAULT_HOST, port: int | None = None, tls: bool = True,
                 format: Literal["msgpack", "json"] | Format = Format.MSGPACK,
                 max_message_size: int | None = None, idempotent_rest_publishing: bool = True,
                 timeouts: Timeouts | None = None, http_client: httpx.AsyncClient | None = None) -> None:
        options = ClientOptions(
            key=key, token=token, auth_callback=auth_callback, auth_url=auth_url, auth_method=auth_method,
            auth_headers=dict(auth_headers or {}), auth_params=dict(auth_params or {}),
            use_token_auth=use_token_auth, default_token_params=default_token_params, client_id=client_id,
            host=host, port=port, tls=tls, format=Format(format), max_message_size=max_message_size,
            idempotent_rest_publishing=idempotent_rest_publishing, timeouts=timeouts or Timeouts())
        self._setup(options, http_client)

    @classmethod
    def from_options(cls, options: ClientOptions, http_client: httpx.AsyncClient | None = None) -> Rest:
        rest = cls.__new__(cls)
        rest._setup(options, http_client)
        return rest

    def _setup(self, options: ClientOptions, http_client: httpx.AsyncClient | None) -> None:
        self.options = options
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=options.timeouts.http, verify=tls_context())
        self.auth = Auth(options, self._http)
        self.channels = RestChannels(self)

    async def __aenter__(self) -> Rest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- API -----------------------------------------------------------------------------

    async def time(self) -> int:
        """The server's clock, in milliseconds since the epoch."""
        body = self.decode(await self.request("GET", "/time", authenticated=False))
        if not isinstance(body, list) or not body or not isinstance(body[0], (int, float)):
            raise AblyError(50000, 500, f"Unexpected /time response {body!r}")
        return int(body[0])

    async def request_token(self, token_params: TokenParams | None = None) -> TokenDetails:
        return await self.auth.request_token(token_params)

    # --- plumbing --------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, params: Params = None, body: Any = None,
                      authenticated: bool = True) -> httpx.Response:
        """One API call; a token error renews the token and retries once. Errors raise AblyError."""
        fmt = self.options.format
        headers = {"Accept": fmt.content_type, "X-Ably-Version": PROTOCOL_VERSION, "Ably-Agent": AGENT}
        content: bytes | None = None
        if body is not None:
            packed = pack(body, fmt)
            content = packed.encode() if isinstance(packed, str) else packed
            headers["Content-Type"] = fmt.content_type
        if authenticated and self.auth.method == "basic" and self.options.client_id:
            headers["X-Ably-ClientId"] = base64.b64encode(self.options.client_id.encode()).decode("ascii")
        url = self.options.rest_url + path
        for attempt in range(2):
            if authenticated:
                headers["Authorization"] = await self.auth.authorization_header()
            try:
                response = await self._http.request(method, url, params=params, content=content, headers=headers,
                                                    timeout=self.options.timeouts.http)
            except httpx.TimeoutException as exc:
                raise AblyError(50003, 504, f"{method} {path} timed out: {exc!r}") from exc
            except httpx.TransportError as exc:
                raise AblyError(80000, 503, f"{method} {path} failed: {exc!r}") from exc
            if response.status_code < 400:
                return response
            error = error_from_response(response)
            if (error.is_token_error and attempt == 0 and authenticated and self.auth.method == "token"
                    and self.auth.can_renew):
                await self.auth.current_token(renew=True)
                continue
            raise error
        raise AssertionError("unreachable")

    def decode(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        content_type = response.headers.get("content-type", "")
        fmt = Format.MSGPACK if "msgpack" in content_type else Format.JSON
        return unpack(response.content, fmt)

    async def paginated(self, path: str, params: Params, item: Callable[[dict[str, Any]], T]) -> PaginatedResult[T]:
        response = await self.request("GET", path, params=params)
        body = self.decode(response)
        if not isinstance(body, list):
            raise AblyError(50000, 500, f"Expected a list from GET {path}, got {type(body).__name__}")
        items = [item(obj) for obj in body if isinstance(obj, dict)]

        async def fetch(query: str) -> PaginatedResult[T]:
            return await self.paginated(path, httpx.QueryParams(query), item)

        return PaginatedResult(items, fetch, parse_links(response.headers.get_list("link")))
