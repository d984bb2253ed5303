"""The REST API: time, publish, history and channel status, as the Ably SDKs call them."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from ..auth import (
    AuthContext,
    KeyStore,
    NonceCache,
    authenticate_basic,
    authenticate_bearer,
    process_token_request,
    resolve_client_id,
)
from ..config import Config
from ..core.app_hub import AppHub
from ..core.channel import now_ms
from ..core.hub import MUTATIONS, HistoryQuery, Hub
from ..core.provisioning import Sandbox
from ..protocol.channels import parse_channel_name
from ..protocol.errors import AblyError, invalid_param, not_found
from ..protocol.message import Message
from ..protocol.presence import PresenceMessage
from ..protocol.serial import parse_position, seq_of_serial
from ..protocol.wire import decode
from . import annotations, sandbox, stats
from .http import Request, Response, error_response, payload_response, response_format
from .enumeration import list_channels
from .params import cursor_param, int_param, limit_param
from .presence import get_history as presence_history
from .presence import get_members as presence_members

log = logging.getLogger("broker.rest")

CORS_HEADERS = "authorization, content-type, accept, x-ably-version, ably-agent, x-ably-clientid"

Handler = Callable[[Request, list[str]], Awaitable[Response]]


class RestApi:
    def __init__(self, hub: Hub, keys: KeyStore, config: Config) -> None:
        self.hub = hub
        self.keys = keys
        self.config = config
        self.nonces = NonceCache()
        self.sandbox: Sandbox | None = None  # provisioning, with --sandbox

    async def handle(self, request: Request) -> Response:
        try:
            response = await self._route(request)
        except AblyError as exc:
            response = error_response(request, exc)
        except Exception:
            log.exception("REST %s %s failed", request.method, request.target)
            response = error_response(request, AblyError(50000, 500, "Internal error"))
        if response.status < 400:
            self.hub.metrics.api_requests_ok += 1
        else:
            self.hub.metrics.api_requests_failed += 1
        origin = request.headers.get("origin")
        if origin:
            response.headers += [("Access-Control-Allow-Origin", origin),
                                 ("Access-Control-Allow-Credentials", "true"),
                                 ("Access-Control-Expose-Headers", "link, x-ably-errorcode, x-ably-errormessage")]
        return response

    async def _route(self, request: Request) -> Response:
        seg = request.segments
        method = request.method
        if method == "OPTIONS":
            return Response(204, b"", [("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE"),
                                       ("Access-Control-Allow-Headers", CORS_HEADERS),
                                       ("Access-Control-Max-Age", "86400")])
        if seg == ["time"] and method == "GET":
            return payload_response(request, [now_ms()])
        if seg == ["stats"] and method == "GET":
            return stats.get(self, request)
        if seg == ["channels"] and method == "GET":
            return await list_channels(self, request)
        if self.sandbox is not None and seg[:1] in (["apps"], ["stats"]):
            if seg == ["apps"] and method == "POST":
                return await sandbox.create_app(self, self.sandbox, request)
            if len(seg) == 2 and seg[0] == "apps" and method == "DELETE":
                return await sandbox.delete_app(self, self.sandbox, request, seg[1])
            if seg == ["stats"] and method == "POST":
                return await sandbox.post_stats(self, request)
        if len(seg) == 3 and seg[0] == "keys" and seg[2] == "requestToken" and method == "POST":
            return await self.request_token(request, seg[1])
        if len(seg) >= 2 and seg[0] == "channels":
            name = parse_channel_name(seg[1])
            rest = seg[2:]
            if rest == [] and method == "GET":
                return await self.channel_status(request, name.base)
            if rest == ["messages"] and method == "POST":
                return await self.publish(request, name.base)
            if rest == ["messages"] and method == "GET":
                return await self.history(request, name.base)
            if rest == ["presence"] and method == "GET":
                return await presence_members(self, request, name.base)
            if rest == ["presence", "history"] and method == "GET":
                return await presence_history(self, request, name.base)
            if len(rest) == 2 and rest[0] == "messages" and method == "PATCH":
                return await self.mutate(request, name.base, rest[1])
            if len(rest) == 2 and rest[0] == "messages" and method == "GET":
                return await self.get_message(request, name.base, rest[1])
            if len(rest) == 3 and rest[0] == "messages" and rest[2] == "annotations" and method in ("GET", "POST"):
                handler = annotations.get if method == "GET" else annotations.publish
                return await handler(self, request, name.base, rest[1])
            if len(rest) == 3 and rest[0] == "messages" and rest[2] == "versions" and method == "GET":
                return await self.versions(request, name.base, rest[1])
        if request.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise AblyError(40500, 405, f"Method {method} not allowed")
        raise not_found(f"No resource at {request.method} {request.target.split('?')[0]}")

    # -- auth -------------------------------------------------------------------------

    def authenticate(self, request: Request) -> tuple[AuthContext, str | None]:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic" and value:
            try:
                key = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise AblyError(40005, 400, "Basic credentials are not valid base64") from exc
            auth = authenticate_basic(self.keys, key)
        elif scheme.lower() == "bearer" and value:
            auth = authenticate_bearer(self.keys, value.strip(), now_ms())
        elif request.query.get("key"):
            auth = authenticate_basic(self.keys, request.query["key"])
        else:
            raise AblyError(40101, 401, "No credentials: use Basic or Bearer authorization")
        client_id = None
        encoded = request.headers.get("x-ably-clientid")
        if encoded:
            try:
                client_id = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise AblyError(40012, 400, "X-Ably-ClientId is not valid base64") from exc
        return auth, resolve_client_id(auth, client_id)

    async def request_token(self, request: Request, key_name: str) -> Response:
        """Exchange a signed TokenRequest (or an unsigned one from a Basic caller) for a token."""
        caller = self.authenticate(request)[0] if request.headers.get("authorization") else None
        body = decode(request.body, request.body_format) if request.body else None
        details = process_token_request(self.keys, body, self.nonces, now_ms(), caller=caller, path_key_name=key_name)
        self.hub.metrics.token_requests_ok += 1
        return payload_response(request, details.to_wire())

    @staticmethod
    def require(auth: AuthContext, channel: str, operation: str) -> None:
        if not auth.capability.allows(channel, operation):
            raise AblyError(40160, 401, f"Capability does not permit {operation} on channel {channel}")

    # -- channels ---------------------------------------------------------------------

    async def publish(self, request: Request, channel: str) -> Response:
        auth, client_id = self.authenticate(request)
        hub = self.hub.app(auth.app_id)
        if len(request.body) > self.config.max_http_body:
            raise AblyError(40009, 413, "Request body too large")
        body = decode(request.body, request.body_format) if request.body else None
        items = body if isinstance(body, list) else [body]
        if not items or any(not isinstance(item, dict) for item in items):
            raise AblyError(40001, 400, "Publish body must be a message object or a non-empty array of them")
        messages = [Message.from_wire(item, request.body_format) for item in items]
        began = time.perf_counter()
        try:
            published = await hub.publish(channel, messages, auth, client_id, self.config.max_message_size,
                                          id_base=secrets.token_urlsafe(9), connection_id=None)
        finally:
            self.hub.metrics.rest_publish.observe(time.perf_counter() - began)
        sent = published if isinstance(published, list) else published.messages  # a list: ephemeral
        payload = {"channel": channel, "messageId": messages[0].id, "serials": [m.serial for m in sent]}
        return payload_response(request, payload, 201)

    async def mutate(self, request: Request, channel: str, serial: str) -> Response:
        auth, client_id = self.authenticate(request)
        hub = self.hub.app(auth.app_id)
        body = decode(request.body, request.body_format) if request.body else None
        if not isinstance(body, dict):
            raise AblyError(40001, 400, "The body must be one message object")
        message = Message.from_wire(body, request.body_format)
        message.serial = serial
        if message.action not in MUTATIONS:
            raise AblyError(40003, 400, "action must be 1 (update), 2 (delete) or 5 (append)")
        publication = await hub.mutate(channel, message, auth, client_id,
                                            self.config.max_message_size)
        self.hub.metrics.rest_messages_in += 1
        self.hub.metrics.rest_message_bytes_in += message.size
        return payload_response(request, {"versionSerial": publication.messages[0].version["serial"]})  # type: ignore[index]

    async def get_message(self, request: Request, channel: str, serial: str) -> Response:
        auth, _ = self.authenticate(request)
        hub = self.hub.app(auth.app_id)
        self.require(auth, channel, "history")
        message = await hub.get_message(channel, serial)
        if message is None:
            raise not_found(f"Message {serial} not found on channel {channel}")
        [message] = await hub.annotations.with_summaries(channel, [message])
        return payload_response(request, message.to_wire(response_format(request)))

    async def versions(self, request: Request, channel: str, serial: str) -> Response:
        auth, _ = self.authenticate(request)
        hub = self.hub.app(auth.app_id)
        self.require(auth, channel, "history")
        items = await hub.versions(channel, serial)
        if not items:
            raise not_found(f"Message {serial} not found on channel {channel}")
        if request.query.get("direction", "forwards") == "backwards":
            items.reverse()
        limit = limit_param(request.query)
        fmt = response_format(request)
        return payload_response(request, [m.to_wire(fmt) for m in items[:limit]])

    async def history(self, request: Request, channel: str) -> Response:
        auth, _ = self.authenticate(request)
        hub = self.hub.app(auth.app_id)
        self.require(auth, channel, "history")
        query = self.history_query(request.query)
        items = await hub.annotations.with_summaries(channel, await hub.history(channel, query))
        fmt = response_format(request)
        wire = [m.to_wire(fmt) for m in items]
        links = self.links(request, "messages", items, query)
        return payload_response(request, wire, links=links)

    @staticmethod
    def history_query(q: dict[str, str]) -> HistoryQuery:
        direction = q.get("direction", "backwards")
        if direction not in ("backwards", "forwards"):
            raise invalid_param(f"direction must be backwards or forwards, not {direction!r}")
        limit = limit_param(q)
        start, end = int_param(q, "start"), int_param(q, "end")
        if start is not None and end is not None and start > end:
            raise invalid_param("start must not be after end")
        query = HistoryQuery(direction=direction, limit=limit, start=start, end=end)  # type: ignore[arg-type]
        until = q.get("from_serial") or q.get("fromSerial")
        if until:
            query.until = parse_position(until).seq
        query.cursor = cursor_param(q)
        return query

    @staticmethod
    def links(request: Request, segment: str, items: Sequence[Message | PresenceMessage], query: HistoryQuery) -> list[tuple[str, str]]:
        base = {k: v for k, v in request.query.items() if k != "cursor"}
        first = f"./{segment}?{urlencode(base, quote_via=quote)}"
        links = [("first", first), ("current", f"./{segment}?{request.raw_query}")]
        if len(items) == query.limit and items[-1].serial:
            serial = items[-1].serial
            nxt = {**base, "cursor": f"{seq_of_serial(serial)}:{int(serial.rpartition(':')[2])}"}
            links.append(("next", f"./{segment}?{urlencode(nxt, quote_via=quote)}"))
        return links

    async def channel_status(self, request: Request, channel: str) -> Response:
        auth, _ = self.authenticate(request)
        hub = self.hub.app(auth.app_id)
        self.require(auth, channel, "channel-metadata")
        return payload_response(request, await self.channel_details(hub, channel))

    async def channel_details(self, hub: AppHub, channel: str) -> dict[str, Any]:
        """Ably's ChannelDetails: the channel's status and occupancy."""
        live = hub.get(channel)
        subscribers = live.subscriber_count if live else 0
        members = await hub.presence_members(channel)
        metrics = {"connections": subscribers, "publishers": 0, "subscribers": subscribers,
                   "presenceConnections": len({m.connection_id for m in members}), "presenceMembers": len(members),
                   "presenceSubscribers": hub.presence.subscriber_count(channel)}
        return {"channelId": channel, "name": channel,
                "status": {"isActive": subscribers > 0, "occupancy": {"metrics": metrics}}}

