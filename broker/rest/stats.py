"""`GET /stats`: the app's usage in Ably's Stats shape, from this broker's counters.

Parameters as the SDKs send them: `unit` (minute, hour, day, month; default minute),
`start` / `end` (ms), `direction` (backwards by default) and `limit`. The counters live in
memory since the broker started (see observe/stats.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ..core.channel import now_ms
from ..observe.stats import UNITS, Unit
from ..protocol.errors import invalid_param
from .http import Request, Response, payload_response
from .params import int_param, limit_param

if TYPE_CHECKING:
    from .api import RestApi


def get(api: RestApi, request: Request) -> Response:
    auth, _ = api.authenticate(request)
    q = request.query
    unit = q.get("unit") or "minute"
    if unit not in UNITS:
        raise invalid_param(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    direction = q.get("direction") or "backwards"
    if direction not in ("backwards", "forwards"):
        raise invalid_param(f"direction must be backwards or forwards, not {direction!r}")
    start, end = int_param(q, "start"), int_param(q, "end")
    if start is not None and end is not None and start > end:
        raise invalid_param("start must not be after end")
    limit = limit_param(q)
    metrics = api.hub.metrics
    metrics.sample_stats(now_ms())
    app_id = auth.key_name.partition(".")[0]
    items = metrics.stats.query(cast(Unit, unit), start, end, direction == "backwards", limit, app_id)
    return payload_response(request, items)
