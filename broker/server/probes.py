"""Operator endpoints: `/healthz` (alive), `/readyz` (storage answers) and `/metrics` (Prometheus).

They are answered before REST routing, without credentials (as orchestrators and Prometheus
call them), and are not counted as API requests. Bind the broker to a private address or put
it behind a proxy if the metrics must not be public.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..core.hub import Hub
from ..observe.metrics import CONTENT_TYPE
from ..rest.http import Request, Response

log = logging.getLogger("broker.http")

READY_TIMEOUT = 2.0  # seconds the storage has to answer a readiness probe
PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


class Probes:
    def __init__(self, hub: Hub, serving: Callable[[], bool]) -> None:
        self._hub = hub
        self._serving = serving  # listening and not shutting down

    def handles(self, request: Request) -> bool:
        return request.method == "GET" and request.target.partition("?")[0] in PATHS

    async def answer(self, request: Request) -> Response:
        path = request.target.partition("?")[0]
        if path == "/healthz":
            return Response(200, b"ok\n", list(_TEXT))
        if path == "/readyz":
            return await self._ready()
        return Response(200, self._hub.metrics.render(), [("Content-Type", CONTENT_TYPE)])

    async def _ready(self) -> Response:
        if not self._serving():
            return Response(503, b"not ready: starting or shutting down\n", list(_TEXT))
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await self._hub.ping()
        except Exception as exc:  # noqa: BLE001 - any failure to answer means not ready
            log.warning("readiness: storage did not answer: %s", exc or type(exc).__name__)
            return Response(503, f"not ready: storage did not answer ({exc or type(exc).__name__})\n".encode(),
                            list(_TEXT))
        return Response(200, b"ready\n", list(_TEXT))
