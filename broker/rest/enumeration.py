"""`GET /channels`: Ably's channel enumeration, the live channels of the app.

As the SDKs call it through `request('get', '/channels', params)`: `prefix` keeps the names
that start with it, `limit` pages (default 100), `by=id` answers names and `by=value` (the
default) ChannelDetails. Pages are in name order; the `next` Link carries the last name of
the page as the cursor. Only channels the credential may read metadata of are listed.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from ..protocol.errors import invalid_param
from .http import Request, Response, payload_response
from .params import limit_param

if TYPE_CHECKING:
    from .api import RestApi


async def list_channels(api: RestApi, request: Request) -> Response:
    auth, _ = api.authenticate(request)
    q = request.query
    by = q.get("by") or "value"
    if by not in ("id", "value"):
        raise invalid_param(f"by must be id or value, not {by!r}")
    limit = limit_param(q)
    prefix = q.get("prefix") or ""
    hub = api.hub.app(auth.app_id)
    names = [n for n in hub.live_names()
             if n.startswith(prefix) and auth.capability.allows(n, "channel-metadata")]
    cursor = q.get("cursor")
    start = bisect_right(names, cursor) if cursor else 0
    page = names[start:start + limit]
    items: list[Any] = list(page) if by == "id" else [await api.channel_details(hub, n) for n in page]
    base = {k: v for k, v in q.items() if k != "cursor"}
    links = [("first", f"./channels?{urlencode(base, quote_via=quote)}"), ("current", f"./channels?{request.raw_query}")]
    if start + limit < len(names):
        links.append(("next", f"./channels?{urlencode({**base, 'cursor': page[-1]}, quote_via=quote)}"))
    return payload_response(request, items, links=links)
