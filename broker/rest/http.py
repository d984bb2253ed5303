"""HTTP request/response values shared by the edge and the REST handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from ..protocol.errors import AblyError
from ..protocol.wire import Format, encode, format_for_content_type


@dataclass(slots=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    segments: list[str] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)
    raw_query: str = ""

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        # Split before decoding: channel names may contain an encoded '/'.
        self.segments = [unquote_plus(s) for s in parts.path.split("/")[1:]] if parts.path != "/" else []
        self.raw_query = parts.query
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))

    @property
    def accept(self) -> Format:
        return format_for_content_type(self.headers.get("accept"))

    @property
    def body_format(self) -> Format:
        return format_for_content_type(self.headers.get("content-type"))


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def response_format(request: Request) -> Format:
    """The body format: the envelope's when one is asked for, else the Accept header's."""
    envelope = request.query.get("envelope")
    return Format(envelope) if envelope in ("json", "msgpack") else request.accept


def payload_response(request: Request, payload: Any, status: int = 200,
                     links: list[tuple[str, str]] | None = None) -> Response:
    """Encode `payload` as the client asked: Accept format, optionally in Ably's envelope."""
    fmt = response_format(request)
    link_headers = [("Link", f"<{url}>; rel=\"{rel}\"") for rel, url in links or []]
    if request.query.get("envelope") in ("json", "msgpack"):
        wrapped: dict[str, Any] = {"statusCode": status, "response": payload, "headers": {}}
        if link_headers:
            wrapped["headers"]["link"] = ", ".join(value for _, value in link_headers)
        return Response(200, encode(wrapped, fmt), [("Content-Type", fmt.content_type)])
    return Response(status, encode(payload, fmt), [("Content-Type", fmt.content_type), *link_headers])


def error_response(request: Request | None, error: AblyError) -> Response:
    fmt = request.accept if request is not None else Format.JSON
    if request is not None and request.query.get("envelope") in ("json", "msgpack"):
        return payload_response(request, {"error": error.to_wire()}, error.status_code)
    headers = [
        ("Content-Type", fmt.content_type),
        ("X-Ably-Errorcode", str(error.code)),
        ("X-Ably-Errormessage", "".join(c if " " <= c <= "~" else "?" for c in error.message)[:500].strip()),
    ]
    return Response(error.status_code, encode({"error": error.to_wire()}, fmt), headers)
