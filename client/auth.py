"""Credentials: Basic auth with a key, or tokens from a literal, a key, auth_callback or auth_url."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import quote

import httpx

from .errors import AblyError
from .options import ClientOptions, TokenLike
from .types import TokenDetails, TokenParams, TokenRequest
from .wire import Format, unpack


def canonical_capability(capability: dict[str, list[str]] | str) -> str:
    """The capability as the JSON string that gets signed: resources and operations sorted."""
    parsed: Any = capability
    if isinstance(capability, str):
        try:
            parsed = json.loads(capability)
        except ValueError as exc:
            raise AblyError(40000, 400, f"Capability is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise AblyError(40000, 400, "Capability must be a JSON object")
    ops: dict[str, list[str]] = {}
    for resource, operations in parsed.items():
        ops[str(resource)] = sorted({operations} if isinstance(operations, str) else {str(op) for op in operations})
    return json.dumps(ops, sort_keys=True, separators=(",", ":"))


def sign_token_request(key_secret: str, request: TokenRequest) -> str:
    """base64 HMAC-SHA256 over the newline-terminated fields; absent fields are empty strings."""
    fields = [request.key_name, "" if request.ttl is None else str(request.ttl), request.capability or "",
              request.client_id or "", str(request.timestamp), request.nonce]
    text = "".join(f"{value}\n" for value in fields)
    digest = hmac.new(key_secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _now_ms() -> int:
    return int(time.time() * 1000)


class Auth:
    """Holds the current credentials and knows how to get new ones.

    Realtime installs `on_token` so that `authorize()` on a connected client re-authenticates
    the live connection in-band instead of reconnecting.
    """

    def __init__(self, options: ClientOptions, http: httpx.AsyncClient) -> None:
        self._options = options
        self._http = http
        self.client_id = options.client_id
        self.key_name: str | None = None
        self._key_secret: str | None = None
        if options.key:
            self.key_name, self._key_secret = options.key.split(":", 1)
        token = options.token
        self.token_details: TokenDetails | None = (
            TokenDetails(token=token) if isinstance(token, str) else token)
        self.method: Literal["basic", "token"] = (
            "basic" if options.key and not (options.use_token_auth or options.token or options.auth_callback
                                            or options.auth_url) else "token")
        self._renewing: asyncio.Future[TokenDetails] | None = None
        self.on_token: Callable[[TokenDetails], Awaitable[None]] | None = None

    @property
    def can_renew(self) -> bool:
        """Whether an expired or rejected token can be replaced without the application's help."""
        return bool(self._options.auth_callback or self._options.auth_url or self._key_secret)

    # --- current credentials -------------------------------------------------------------

    async def current_token(self, *, renew: bool = False) -> TokenDetails:
        """A token to use now: the held one unless it is expired, rejected (`renew`) or absent."""
        details = self.token_details
        if details is not None and not renew and not self._expired(details):
            return details
        if not self.can_renew:
            if details is None:
                raise AblyError(40106, 401, "No means to obtain a token")
            raise AblyError(40171, 403, "Token expired or rejected, and no means to renew it was provided")
        return await self._renew()

    def _expired(self, details: TokenDetails) -> bool:
        return details.expires is not None and details.expires <= _now_ms()

    async def _renew(self) -> TokenDetails:
        """One renewal at a time: concurrent callers share the result."""
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.ensure_future(self.request_token())
        details = await asyncio.shield(self._renewing)
        self.token_details = details
        if details.client_id and details.client_id != "*":
            self.client_id = details.client_id
        return details

    async def authorization_header(self) -> str:
        if self.method == "basic":
            assert self._options.key is not None
            return "Basic " + base64.b64encode(self._options.key.encode()).decode("ascii")
        token = (await self.current_token()).token
        return "Bearer " + base64.b64encode(token.encode()).decode("ascii")

    async def realtime_params(self, *, renew: bool = False) -> dict[str, str]:
        if self.method == "basic":
            assert self._options.key is not None
            return {"key": self._options.key}
        return {"access_token": (await self.current_token(renew=renew)).token}

    # --- public API ----------------------------------------------------------------------

    async def authorize(self, token_params: TokenParams | None = None) -> TokenDetails:
        """Get a new token now and switch to token auth; a live connection re-authenticates in-band."""
        details = await self.request_token(token_params)
        self.token_details = details
        self.method = "token"
        if details.client_id and details.client_id != "*":
            self.client_id = details.client_id
        if self.on_token is not None:
            await self.on_token(details)
        return details

    async def request_token(self, token_params: TokenParams | None = None) -> TokenDetails:
        """A new token from auth_callback, auth_url, or by signing a TokenRequest with the key."""
        params = token_params or self._options.default_token_params or TokenParams()
        if params.client_id is None and self.client_id is not None:
            params = TokenParams(ttl=params.ttl, capability=params.capability, client_id=self.client_id,
                                 timestamp=params.timestamp, nonce=params.nonce)
        timeout = self._options.timeouts.request
        if self._options.auth_callback is not None:
            try:
                async with asyncio.timeout(timeout):
                    result = self._options.auth_callback(params)
                    if inspect.isawaitable(result):
                        result = await result
            except TimeoutError as exc:
                raise AblyError(40170, 401, f"auth_callback did not return within {timeout:g}s") from exc
            except AblyError:
                raise
            except Exception as exc:
                raise AblyError(40170, 401, f"auth_callback failed: {exc!r}") from exc
            return await self._to_token_details(result)
        if self._options.auth_url is not None:
            return await self._to_token_details(await self._fetch_auth_url(params))
        if self._key_secret is not None:
            return await self.exchange_token_request(await self.create_token_request(params))
        raise AblyError(40106, 401, "No means to obtain a token: give key, auth_callback or auth_url")

    async def create_token_request(self, token_params: TokenParams | None = None, *,
                                   key: str | None = None) -> TokenRequest:
        """A TokenRequest signed with the key, to hand to a client that must not see the key."""
        key_name, key_secret = (key.split(":", 1) if key else (self.key_name, self._key_secret))
        if not key_name or not key_secret:
            raise AblyError(40101, 401, "A key is needed to sign a token request")
        params = token_params or TokenParams()
        request = TokenRequest(
            key_name=key_name,
            timestamp=params.timestamp if params.timestamp is not None else _now_ms(),
            nonce=params.nonce or secrets.token_hex(8),
            mac="",
            ttl=params.ttl,
            capability=canonical_capability(params.capability) if params.capability is not None else None,
            client_id=params.client_id if params.client_id is not None else self.client_id,
        )
        request.mac = sign_token_request(key_secret, request)
        return request

    async def exchange_token_request(self, request: TokenRequest) -> TokenDetails:
        """POST a TokenRequest to `/keys/{keyName}/requestToken` (no credentials: it is signed)."""
        url = f"{self._options.rest_url}/keys/{quote(request.key_name, safe='')}/requestToken"
        try:
            response = await self._http.post(url, json=request.to_dict(), headers={"Accept": "application/json"},
                                              timeout=self._options.timeouts.http)
        except httpx.TimeoutException as exc:
            raise AblyError(50003, 504, f"requestToken timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise AblyError(80000, 503, f"requestToken failed: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return TokenDetails.from_dict(response.json())

    async def _fetch_auth_url(self, params: TokenParams) -> Any:
        opts = self._options
        query: dict[str, str] = dict(opts.auth_params)
        if params.client_id:
            query.setdefault("clientId", params.client_id)
        if params.ttl is not None:
            query.setdefault("ttl", str(params.ttl))
        if params.capability is not None:
            query.setdefault("capability", canonical_capability(params.capability))
        assert opts.auth_url is not None
        try:
            if opts.auth_method == "POST":
                response = await self._http.post(opts.auth_url, data=query, headers=dict(opts.auth_headers),
                                                  timeout=opts.timeouts.request)
            else:
                response = await self._http.get(opts.auth_url, params=query, headers=dict(opts.auth_headers),
                                                 timeout=opts.timeouts.request)
        except httpx.HTTPError as exc:
            raise AblyError(40170, 401, f"auth_url request failed: {exc!r}") from exc
        if response.status_code >= 400:
            raise AblyError(40170, 403 if response.status_code == 403 else 401,
                            f"auth_url answered {response.status_code}: {response.text[:200]}")
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text.strip()

    async def _to_token_details(self, result: TokenLike | Any) -> TokenDetails:
        if isinstance(result, TokenDetails):
            return result
        if isinstance(result, TokenRequest):
            return await self.exchange_token_request(result)
        if isinstance(result, str):
            if not result:
                raise AblyError(40170, 401, "auth_callback/auth_url returned an empty token")
            return TokenDetails(token=result)
        if isinstance(result, dict):
            if "mac" in result and "keyName" in result:
                return await self.exchange_token_request(TokenRequest.from_dict(result))
            if "token" in result:
                return TokenDetails.from_dict(result)
        raise AblyError(40170, 401, f"Expected a token, TokenDetails or TokenRequest, got {type(result).__name__}")


def error_from_response(response: httpx.Response) -> AblyError:
    """An AblyError from an HTTP error response: body first, then X-Ably-Errorcode headers."""
    body: Any = None
    content_type = response.headers.get("content-type", "")
    try:
        if "msgpack" in content_type:
            body = unpack(response.content, Format.MSGPACK)
        elif "json" in content_type:
            body = response.json()
    except (AblyError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return AblyError.from_wire(body["error"], response.status_code * 100, response.status_code)
    code = response.headers.get("x-ably-errorcode")
    message = response.headers.get("x-ably-errormessage") or response.text[:200] or response.reason_phrase
    return AblyError(int(code) if code and code.isdigit() else response.status_code * 100,
                     response.status_code, message)
