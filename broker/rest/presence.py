"""REST presence: the current members of a channel, and its presence history, both paginated."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from ..protocol.actions import PresenceAction
from ..protocol.errors import invalid_param
from ..protocol.presence import PresenceMessage
from .http import Request, Response, payload_response, response_format
from .params import limit_param

if TYPE_CHECKING:
    from .api import RestApi

def _member_cursor(member: PresenceMessage) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(member.key)).encode()).decode().rstrip("=")


def _parse_member_cursor(cursor: str) -> tuple[str, str]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise invalid_param(f"Invalid cursor {cursor[:100]!r}") from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise invalid_param(f"Invalid cursor {cursor[:100]!r}")
    return value[0], value[1]


def _links(request: Request, next_cursor: str | None) -> list[tuple[str, str]]:
    """`./presence?...` links; ably-js re-requests the original path with the link's query."""
    base = {k: v for k, v in request.query.items() if k != "cursor"}
    links = [("first", f"./presence?{urlencode(base, quote_via=quote)}"),
             ("current", f"./presence?{request.raw_query}")]
    if next_cursor is not None:
        links.append(("next", f"./presence?{urlencode({**base, 'cursor': next_cursor}, quote_via=quote)}"))
    return links


async def get_members(api: RestApi, request: Request, channel: str) -> Response:
    """GET /channels/{ch}/presence: members as `present`, ordered by (clientId, connectionId)."""
    auth, _ = api.authenticate(request)
    hub = api.hub.app(auth.app_id)
    api.require(auth, channel, "subscribe")
    limit = limit_param(request.query)
    members = await hub.presence_members(channel, request.query.get("clientId") or None,
                                                    request.query.get("connectionId") or None)
    members.sort(key=lambda m: m.key)
    cursor = request.query.get("cursor")
    if cursor:
        after = _parse_member_cursor(cursor)
        members = [m for m in members if m.key > after]
    page = members[:limit]
    next_cursor = _member_cursor(page[-1]) if len(members) > limit else None
    fmt = response_format(request)
    wire = [m.to_wire(fmt, PresenceAction.PRESENT) for m in page]
    return payload_response(request, wire, links=_links(request, next_cursor))


async def get_history(api: RestApi, request: Request, channel: str) -> Response:
    """GET /channels/{ch}/presence/history: enter/update/leave events, paged like message history."""
    auth, _ = api.authenticate(request)
    hub = api.hub.app(auth.app_id)
    api.require(auth, channel, "history")
    query = api.history_query(request.query)
    items = await hub.presence_history(channel, query)
    fmt = response_format(request)
    return payload_response(request, [m.to_wire(fmt) for m in items],
                            links=api.links(request, "history", items, query))
