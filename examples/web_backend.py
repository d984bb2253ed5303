"""What a web page needs from its app backend, served by the example agent beside POST /invoke.

    GET /auth/token?user=U&device=D   an Ably JWT for clientId "U-D", good on U's channels only
    GET /config                       where the page finds the broker (port, tls)
    GET /, /assets/...                the built page (examples/web/dist)

The token is what stops a stranger: it is signed with the API key here, on the server, and its
capability names only `conversations:U:*`, so a page holding alice's token cannot attach to,
read or publish on bob's conversations, whatever the page's code does. Each device gets its own
clientId, because AI Transport's run ownership is by clientId. The demo has no login, so the user
comes from the query; a real backend takes it from the signed-in session instead. `history=0`
asks for a token without the history operation (it can only narrow what is granted), which the
browser tests use to show a device that sees the live stream but not the past.
"""

from __future__ import annotations

import json
import mimetypes
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import jwt

NAME = re.compile(r"^[A-Za-z0-9_]{1,32}$")
OPERATIONS = ("publish", "subscribe", "presence", "history")
Response = tuple[int, str, bytes]


def channel_prefix(user: str) -> str:
    """The user's conversations live under this namespace; the token grants nothing else."""
    return f"conversations:{user}"


def ably_jwt(key: str, client_id: str, capability: dict[str, list[str]], ttl_s: int, now_s: int) -> str:
    """An Ably JWT as any backend mints one: HS256 with the key's secret, the key name as `kid`."""
    name, secret = key.split(":", 1)
    claims = {"iat": now_s, "exp": now_s + ttl_s, "x-ably-capability": json.dumps(capability),
              "x-ably-clientId": client_id}
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": name, "typ": "JWT"})


def json_response(status: int, value: object) -> Response:
    return status, "application/json", json.dumps(value).encode()


@dataclass(frozen=True, slots=True)
class WebBackend:
    """Answers the page's GETs; `site` is the built page's folder (None: tokens and config only)."""

    key: str
    broker_port: int
    site: Path | None = None
    ttl_s: int = 3600

    def respond(self, target: str) -> Response:
        parts = urlsplit(target)
        if parts.path == "/auth/token":
            return self.token(dict(parse_qsl(parts.query)))
        if parts.path == "/config":
            return json_response(200, {"brokerPort": self.broker_port, "tls": False})
        return self.page(parts.path)

    def token(self, query: dict[str, str]) -> Response:
        user, device = query.get("user", ""), query.get("device", "")
        if not NAME.match(user) or not NAME.match(device):
            return json_response(400, {"error": "user and device: 1-32 letters, digits or _"})
        operations = [op for op in OPERATIONS if op != "history" or query.get("history") != "0"]
        capability = {f"{channel_prefix(user)}:*": operations}
        token = ably_jwt(self.key, f"{user}-{device}", capability, self.ttl_s, int(time.time()))
        return 200, "application/jwt", token.encode()

    def page(self, path: str) -> Response:
        if self.site is None:
            return json_response(404, {"error": "no page served here (start the agent with --web DIR)"})
        root = self.site.resolve()
        file = (root / path.lstrip("/")).resolve()
        if file.is_dir():
            file = file / "index.html"
        if not file.is_relative_to(root) or not file.is_file():
            return json_response(404, {"error": f"no such file: {path}"})
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return 200, content_type, file.read_bytes()
