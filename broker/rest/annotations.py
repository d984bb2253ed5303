"""REST annotations: POST and GET /channels/{ch}/messages/{serial}/annotations."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from ..core.annotate import prepare_annotations
from ..core.channel import now_ms
from ..protocol.annotation import Annotation
from ..protocol.errors import AblyError
from ..protocol.wire import decode
from .http import Request, Response, payload_response, response_format

if TYPE_CHECKING:
    from .api import RestApi


async def publish(api: RestApi, request: Request, channel: str, serial: str) -> Response:
    auth, client_id = api.authenticate(request)
    hub = api.hub.app(auth.app_id)
    if len(request.body) > api.config.max_http_body:
        raise AblyError(40009, 413, "Request body too large")
    body = decode(request.body, request.body_format) if request.body else None
    items = body if isinstance(body, list) else [body]
    annotations = [Annotation.from_wire(item, request.body_format, message_serial=serial) for item in items]
    prepare_annotations(annotations, channel, auth, client_id, hub.rules, api.config.max_message_size)
    base_id = secrets.token_urlsafe(9)
    for index, annotation in enumerate(annotations):
        if annotation.id is None:
            annotation.id = f"{base_id}:{index}"
    stored = await hub.annotations.publish(channel, annotations, now_ms())
    return payload_response(request, {"serials": [a.serial for a in stored]}, 201)


async def get(api: RestApi, request: Request, channel: str, serial: str) -> Response:
    """Every annotation of one message, earliest first unless `direction=backwards`, paged."""
    auth, _ = api.authenticate(request)
    hub = api.hub.app(auth.app_id)
    if not (auth.capability.allows(channel, "history") or auth.capability.allows(channel, "annotation-subscribe")):
        raise AblyError(40160, 401, f"Capability does not permit reading annotations on channel {channel}")
    query = api.history_query({"direction": "forwards", **request.query})
    items = await hub.annotations.list(channel, serial, query)
    fmt = response_format(request)
    return payload_response(request, [a.to_wire(fmt) for a in items],
                            links=api.links(request, "annotations", items, query))  # type: ignore[arg-type]

