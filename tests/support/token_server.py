"""A tiny app-server `authUrl` for the interop tests: issues credentials the way a real backend would.

It runs on 127.0.0.1 in a thread of the test process (the SDK under test runs in a Node child
process, so the test thread blocks while the server answers). Each path returns one credential
form an SDK accepts from an authUrl:

  /jwt          a signed Ably JWT as text/plain
  /jwt-typed    the same as application/jwt
  /details      TokenDetails JSON (the token a broker's requestToken would return)
  /request      a signed TokenRequest JSON, which the SDK exchanges at the broker itself

A `clientId` query parameter (ably-js forwards its tokenParams) overrides the default clientId.
Every request is recorded so a test can check the SDK really went through the authUrl.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from broker.auth import ApiKey, Capability, create_token_request, issue_token


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class TokenServer:
    """Credentials for `key`, bound to `client_id`, limited to `capability`, living `ttl_ms`."""

    key: ApiKey
    client_id: str | None = None
    capability: str = '{"*":["*"]}'
    ttl_ms: int = 60_000
    hits: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def paths_hit(self) -> list[str]:
        with self._lock:
            return [path for path, _ in self.hits]

    def respond(self, path: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        """(status, content type, body) for one authUrl request."""
        with self._lock:
            self.hits.append((path, query))
        client_id = query.get("clientId") or self.client_id
        capability = Capability.parse(self.capability)
        if path in ("/jwt", "/jwt-typed"):
            token = issue_token(self.key, client_id, capability, self.ttl_ms, now_ms()).token
            return 200, "text/plain" if path == "/jwt" else "application/jwt", token.encode()
        if path == "/details":
            details = issue_token(self.key, client_id, capability, self.ttl_ms, now_ms()).to_wire()
            return 200, "application/json", json.dumps(details).encode()
        if path == "/request":
            request = create_token_request(self.key, now_ms(), ttl_ms=self.ttl_ms, capability=capability,
                                           client_id=client_id)
            return 200, "application/json", json.dumps(request).encode()
        return 404, "text/plain", b"no such credential form\n"

    def start(self) -> TokenServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, content_type, body = owner.respond(parts.path, dict(parse_qsl(parts.query)))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
