"""The broker process: wires engine, hub, auth, realtime and REST behind one listening socket.

Graceful shutdown (SIGTERM) keeps invariant 3 for everything already received: stop
accepting, stop reading, let every publish already read commit and be answered (ACK or HTTP
response), then send DISCONNECTED so the SDKs reconnect (and, once a broker is back, continue
from their channelSerials), close the store and wait for the sockets to flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import ssl
import time
from pathlib import Path
from typing import Any

from ..auth import KeyStore
from ..config import Config, StartupError
from ..core.hub import Hub
from ..core.provisioning import Sandbox
from ..engine.base import Engine, StoreInUse
from ..engine.memory import MemoryEngine
from ..observe.metrics import Metrics
from ..protocol.errors import AblyError
from ..realtime.registry import ConnectionRegistry
from ..rest.api import RestApi
from ..rest.http import Request, Response
from .edge import EdgeProtocol
from .probes import Probes
from .websocket import frame

log = logging.getLogger("broker")

HEARTBEAT_SWEEP = 1.0
RETENTION_SWEEP = 1.0
SHUTDOWN_GRACE = 10.0  # seconds for in-flight publishes to commit and be answered
LINGER = 0.5  # seconds for clients to close their side after DISCONNECTED (ably-js does at once)
CLOSE_GRACE = 5.0  # seconds for the last bytes to flush before the process exits anyway


def make_engine(config: Config) -> Engine:
    if config.engine == "memory":
        return MemoryEngine(retention=config.retention, dedup_window_ms=config.dedup_window_ms)
    if config.engine == "sqlite":
        from ..engine.sqlite import SqliteEngine

        Path(config.db).parent.mkdir(parents=True, exist_ok=True)
        return SqliteEngine(config.db, retention=config.retention, dedup_window_ms=config.dedup_window_ms)
    raise ValueError(f"Unknown engine {config.engine!r} (use sqlite or memory)")


def tls_context(config: Config) -> ssl.SSLContext | None:
    """HTTPS and WSS share the port: ALPN offers only HTTP/1.1 (the WebSocket upgrade needs it)."""
    if config.tls_cert is None and config.tls_key is None:
        return None
    if config.tls_cert is None or config.tls_key is None:
        raise StartupError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartupError(f"cannot load the TLS certificate {config.tls_cert} with key {config.tls_key}: "
                           f"{reason}") from exc
    return ctx


def listen_problem(config: Config, exc: OSError) -> str:
    where = f"{config.host}:{config.port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is already in use (another broker?); stop it or choose --port"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges); choose --port"
    return f"cannot listen on {where}: {exc.strerror or exc}; check --host and --port"


class EdgeSet(set["EdgeProtocol"]):
    """The open sockets; shutdown waits on `empty()` so its goodbyes are flushed before exit.

    `awaiting_head` is the subset waiting for a request head, capped by max_pending_connections;
    `unread` the HTTP sockets holding a response their client has not read, longest-held first."""

    def __init__(self) -> None:
        super().__init__()
        self.awaiting_head: set[EdgeProtocol] = set()
        self.unread: dict[EdgeProtocol, None] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, edge: EdgeProtocol) -> None:
        super().add(edge)
        self._empty.clear()

    def discard(self, edge: object) -> None:
        super().discard(edge)
        self.awaiting_head.discard(edge)  # type: ignore[arg-type]
        self.unread.pop(edge, None)  # type: ignore[call-overload]
        if not self:
            self._empty.set()

    def shed_unread(self, budget: int) -> None:
        """Abort the longest-held unread responses until the rest total at most `budget` bytes.

        The newest is always kept, so one large page for one slow client is still delivered."""
        held = [(edge, edge.unread_bytes()) for edge in self.unread]
        total = sum(size for _, size in held)
        for edge, size in held[:-1]:
            if total <= budget:
                return
            total -= size
            edge.cut_off(f"{size} response bytes unread while unread responses total over {budget} bytes")

    async def empty(self) -> None:
        await self._empty.wait()


class DrainingRestApi(RestApi):
    """Counts requests being handled, so shutdown can answer them before closing their sockets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle(self, request: Request) -> Response:
        self.in_flight += 1
        self._idle.clear()
        try:
            return await super().handle(request)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()


class Broker:
    def __init__(self, config: Config, keys: KeyStore) -> None:
        self.config = config
        self.keys = keys
        self.engine = make_engine(config)
        self.metrics = Metrics()
        self.hub = Hub(self.engine, frame, config.append_rollup_window_ms, config.rules, self.metrics)
        self.realtime = ConnectionRegistry(self.hub, keys, config)
        self.rest = DrainingRestApi(self.hub, keys, config)
        if config.sandbox:
            self.rest.sandbox = Sandbox(self.hub, keys, config.rules, self.realtime.end_app)
        self._stopping = False
        self.probes = Probes(self.hub, lambda: self._server is not None and not self._stopping)
        self._observe()
        self.edges = EdgeSet()
        self.clock = time.monotonic
        self._server: asyncio.base_events.Server | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.loop = asyncio.get_event_loop()

    def _observe(self) -> None:
        """Point the metrics' gauges at the state they read, and time the engine's commits."""
        gauges = self.metrics.gauges
        gauges.connections = self.realtime.connected_count
        gauges.resumable = lambda: len(self.realtime) - self.realtime.connected_count()
        gauges.attachments = self.realtime.attachment_count
        gauges.channels = lambda: len(self.hub)
        gauges.presence_members = self.engine.presence_member_count
        gauges.storage_bytes = self.engine.storage_bytes
        self.engine.set_commit_observer(self.metrics.commit_seconds.observe)

    async def respond(self, request: Request) -> Response:
        """One HTTP request: the operator probes, else the REST API."""
        if self.probes.handles(request):
            return await self.probes.answer(request)
        return await self.rest.handle(request)

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        tls = tls_context(self.config)
        try:  # bind before the store is touched, serve only once it is open
            server = await self.loop.create_server(
                lambda: EdgeProtocol(self), self.config.host, self.config.port, backlog=4096, reuse_address=True,
                ssl=tls, start_serving=False)
        except OSError as exc:
            raise StartupError(listen_problem(self.config, exc)) from exc
        try:
            await self.engine.open()
        except StoreInUse as exc:
            server.close()
            raise StartupError(f"the database {exc.path} is in use by another broker: stop that broker, "
                               f"or give this one its own --db") from exc
        except BaseException:
            server.close()
            raise
        if self.rest.sandbox is not None:
            await self.rest.sandbox.load()
        self._server = server
        await server.start_serving()
        self._heartbeats = asyncio.create_task(self._heartbeat_loop())
        self._sweeper = asyncio.create_task(self._retention_loop())
        log.info("listening on %s://%s:%d (engine %s)", "https" if tls else "http", self.config.host, self.port,
                 self.config.engine)

    @property
    def tls(self) -> bool:
        return self.config.tls_cert is not None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _heartbeat_loop(self) -> None:
        """Keep every socket from being silent longer than maxIdleInterval."""
        idle = self.config.max_idle_interval_ms / 1000 - HEARTBEAT_SWEEP * 2
        while True:
            await asyncio.sleep(HEARTBEAT_SWEEP)
            now = self.clock()
            for edge in list(self.edges):
                if edge.ws is not None:
                    edge.ws.heartbeat(now, idle)
            try:
                self.metrics.sample_stats(time.time_ns() // 1_000_000)  # connection and channel peaks for /stats
            except Exception:
                log.exception("stats sample failed")

    async def _retention_loop(self) -> None:
        """Trim messages past their channel's TTL and forget expired idempotency keys."""
        while True:
            await asyncio.sleep(RETENTION_SWEEP)
            try:
                removed = await self.engine.trim(time.time_ns() // 1_000_000)
            except Exception:
                log.exception("retention sweep failed")
                continue
            if removed:
                log.debug("retention removed %d messages", removed)

    async def stop(self) -> None:
        """Stop accepting and reading, answer what was read, say DISCONNECTED, close the store."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task in (self._heartbeats, self._sweeper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)  # a sweep rolls back before the store closes
        for edge in list(self.edges):
            if edge.transport is not None and not edge.transport.is_closing():
                edge.transport.pause_reading()
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE):
                await self.engine.flush()
                await asyncio.gather(*(c.acks.settled() for c in self.realtime.connections()))
                await self.realtime.background.settled()
                await self.rest.idle()
        except TimeoutError:
            log.warning("shutdown: in-flight work did not settle within %.0fs", SHUTDOWN_GRACE)
        goodbye = AblyError(80003, 503, "Broker shutting down; reconnect")
        for edge in list(self.edges):
            if edge.ws is not None:
                edge.ws.goodbye(goodbye)
            elif edge.transport is not None:
                edge.transport.close()
        await self.engine.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER):
                await self.edges.empty()
        for edge in list(self.edges):  # silent peers: their input was read meanwhile, so this is a FIN, not an RST
            if edge.transport is not None:
                edge.transport.close()
        try:
            async with asyncio.timeout(CLOSE_GRACE):
                await self.edges.empty()
        except TimeoutError:
            log.warning("shutdown: %d sockets still open after %.0fs; aborting them", len(self.edges), CLOSE_GRACE)
            for edge in list(self.edges):
                if edge.transport is not None:
                    edge.transport.abort()
        log.info("stopped")
