"""The sandbox's REST side (`--sandbox` only): `POST /apps`, `DELETE /apps/{id}`, `POST /stats`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.provisioning import Sandbox
from ..protocol.errors import AblyError
from ..protocol.wire import decode
from .http import Request, Response, payload_response

if TYPE_CHECKING:
    from .api import RestApi


async def create_app(api: RestApi, sandbox: Sandbox, request: Request) -> Response:
    """No credential: the sandbox lets anyone reaching it make an app, as Ably's does. The answer
    also says where the app is served (endpoint/port/tls, which a harness given
    ABLY_LOCAL_SANDBOX_URL routes its clients at): here, as the request reached us."""
    body = decode(request.body, request.body_format) if request.body else None
    app = await sandbox.create(body)
    return payload_response(request, {**app.answer(), **_routing(api, request)}, 201)


def _routing(api: RestApi, request: Request) -> dict[str, Any]:
    header = request.headers.get("host", "")
    host, colon, port = header.rpartition(":")
    if not (colon and port.isdigit()):
        host, port = header, ""
    return {"endpoint": host.strip("[]") or api.config.host, "port": int(port) if port else api.config.port,
            "tls": False}


async def delete_app(api: RestApi, sandbox: Sandbox, request: Request, app_id: str) -> Response:
    """Needs a credential of the app itself (the suites send its first key)."""
    auth, _ = api.authenticate(request)
    if auth.app_id != app_id:
        raise AblyError(40160, 401, f"A credential of app {auth.app_id} may not delete app {app_id}")
    await sandbox.delete(app_id)
    return Response(204)


async def post_stats(api: RestApi, request: Request) -> Response:
    """Stats fixtures are accepted and checked for shape, not kept: Tether has no stats history."""
    api.authenticate(request)
    body = decode(request.body, request.body_format) if request.body else None
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(item, dict) for item in items):
        raise AblyError(40000, 400, "Stats fixtures must be an object or an array of objects")
    return payload_response(request, [], 201)
