"""Connections by key: connect, resume within connectionStateTtl, close, discard."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from ..auth import AuthContext, KeyStore, authenticate_basic, authenticate_bearer, resolve_client_id
from ..config import Config
from ..core.hub import Hub
from ..core.rollup import PARAM as ROLLUP_PARAM
from ..core.rollup import parse_window
from ..protocol.actions import Action
from ..protocol.errors import AblyError
from ..protocol.wire import Format, as_int, parse_format
from .connection import Connection, Transport
from .tasks import Background

log = logging.getLogger("broker.realtime")

MIN_PROTOCOL_VERSION = 2
_CONNECTION_KEY = re.compile(r"^[A-Za-z0-9]+![A-Za-z0-9_-]+$")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ConnectionRegistry:
    def __init__(self, hub: Hub, keys: KeyStore, config: Config) -> None:
        self.hub = hub
        self.keys = keys
        self.config = config
        self._by_key: dict[str, Connection] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self.background = Background()  # work that outlives its connection (presence leaves)

    def __len__(self) -> int:
        return len(self._by_key)

    def connections(self) -> list[Connection]:
        return list(self._by_key.values())

    def connected_count(self) -> int:
        """Connections with a live transport (the rest wait for a resume)."""
        return sum(1 for c in self._by_key.values() if c.transport is not None)

    def attachment_count(self) -> int:
        return sum(len(c.attachments) for c in self._by_key.values())

    def authenticate(self, query: dict[str, str]) -> AuthContext:
        key = query.get("key")
        token = query.get("accessToken") or query.get("access_token")
        if key:
            return authenticate_basic(self.keys, key)
        if token:
            return authenticate_bearer(self.keys, token, now_ms(), raw=True)
        raise AblyError(40101, 401, "No credentials: connect with key or accessToken")

    def connect(self, transport: Transport, query: dict[str, str]) -> Connection | None:
        """Authenticate a new transport and answer CONNECTED, or ERROR and close."""
        try:
            fmt = parse_format(query.get("format"))
            version = as_int(query.get("v"), "v", MIN_PROTOCOL_VERSION)
            if version is None or version < MIN_PROTOCOL_VERSION:
                raise AblyError(40017, 400, f"Unsupported protocol version {query.get('v')}")
            auth = self.authenticate(query)
            client_id = resolve_client_id(auth, query.get("clientId") or None)
            window = query.get(ROLLUP_PARAM)
            rollup_window = parse_window(window, "transportParams") if window is not None else None
        except AblyError as exc:
            self.hub.metrics.connections_refused += 1
            log.info("connect refused: %s %s", exc.code, exc.message)
            transport.send({"action": Action.ERROR, "error": exc.to_wire()})
            transport.close()
            return None
        resume_key = query.get("resume") or query.get("recover")
        echo = query.get("echo") != "false"
        error = None
        if resume_key:
            resumed = self._resume(resume_key, transport, auth, client_id, fmt)
            if resumed is not None:
                self.hub.metrics.resumes_ok += 1
                resumed.rollup_window = rollup_window
                return resumed
            self.hub.metrics.resumes_failed += 1
            error = self._resume_error(resume_key)
        connection = Connection(self.hub.app(auth.app_id), self.config, self.keys, auth, client_id, fmt, echo, self.background)
        connection.rollup_window = rollup_window
        self._by_key[connection.key] = connection
        self.hub.metrics.connections_opened += 1
        connection.attach_transport(transport, error)
        log.info("connection %s opened (client %s, %s)", connection.id, client_id, fmt.value,
                 extra={"connection_id": connection.id})
        return connection

    @staticmethod
    def _resume_error(key: str) -> AblyError:
        """Why a resume or recover failed, as the SDKs expect it on the new CONNECTED (never ERROR)."""
        if not _CONNECTION_KEY.match(key):
            return AblyError(80018, 400, "Unable to recover connection: invalid connection key")
        return AblyError(80008, 400, "Unable to recover connection: unknown or expired connection key")

    def _resume(self, key: str, transport: Transport, auth: AuthContext, client_id: str | None,
                fmt: Format) -> Connection | None:
        """Same connectionId, same msgSerial history; channels come back through the client's ATTACHes."""
        connection = self._by_key.get(key)
        if connection is None or connection.client_id != client_id or connection.fmt is not fmt:
            return None
        if connection.hub.app_id != auth.app_id:  # another app's connection is unknown to this one
            return None
        timer = self._expiry.pop(key, None)
        if timer is not None:
            timer.cancel()
        if connection.transport is not None:
            old = connection.transport
            connection.transport_lost()
            old.close()
        connection.auth = auth
        connection.acks.transport_changed()
        connection.attach_transport(transport)
        log.info("connection %s resumed", connection.id, extra={"connection_id": connection.id})
        return connection

    def handle(self, connection: Connection, pm: dict[str, Any], transport: Transport) -> None:
        if connection.transport is not transport:
            return  # a superseded transport: the client repeats what matters on its current one
        action = as_int(pm.get("action"), "action")
        if action == Action.CLOSE:
            transport.send({"action": Action.CLOSED})
            self.discard(connection)
            transport.close()
        elif action == Action.DISCONNECT:
            transport.close()
        else:
            connection.handle(pm)

    def transport_lost(self, connection: Connection, transport: Transport) -> None:
        """Keep the state for resume until connectionStateTtl passes."""
        if connection.transport is not transport or connection.key not in self._by_key:
            return
        connection.transport_lost()
        loop = asyncio.get_running_loop()
        ttl = self.config.connection_state_ttl_ms / 1000
        self._expiry[connection.key] = loop.call_later(ttl, self.discard, connection)
        log.info("connection %s: transport lost, resumable for %.0fs", connection.id, ttl,
                 extra={"connection_id": connection.id})

    def fail(self, connection: Connection) -> None:
        """A fatal ERROR was sent: the state cannot be resumed."""
        self.discard(connection)

    async def end_app(self, app_id: str) -> None:
        """The app was deleted: its connections fail (40101) and cannot be resumed; returns once
        the presence leaves they started have run."""
        error = AblyError(40101, 401, f"App {app_id} was deleted")
        for connection in [c for c in self._by_key.values() if c.hub.app_id == app_id]:
            transport = connection.transport
            self.discard(connection)
            if transport is not None:
                transport.send({"action": Action.ERROR, "error": error.to_wire()})
                transport.close()
        await self.background.settled()

    def discard(self, connection: Connection) -> None:
        self._by_key.pop(connection.key, None)
        timer = self._expiry.pop(connection.key, None)
        if timer is not None:
            timer.cancel()
        connection.discard()
        log.info("connection %s discarded", connection.id, extra={"connection_id": connection.id})
