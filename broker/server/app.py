"""The broker process: wires engine, hub, auth, realtime and REST behind one listening socket."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from ..auth import KeyStore
from ..config import Config
from ..core.hub import Hub
from ..engine.base import Engine
from ..engine.memory import MemoryEngine
from ..protocol.actions import Action
from ..protocol.errors import AblyError
from ..realtime.registry import ConnectionRegistry
from ..rest.api import RestApi
from .edge import EdgeProtocol
from .websocket import frame

log = logging.getLogger("broker")

HEARTBEAT_SWEEP = 1.0


def make_engine(config: Config) -> Engine:
    if config.engine == "memory":
        return MemoryEngine()
    if config.engine == "sqlite":
        from ..engine.sqlite import SqliteEngine

        Path(config.db).parent.mkdir(parents=True, exist_ok=True)
        return SqliteEngine(config.db)
    raise ValueError(f"Unknown engine {config.engine!r} (use sqlite or memory)")


class Broker:
    def __init__(self, config: Config, keys: KeyStore) -> None:
        self.config = config
        self.keys = keys
        self.engine = make_engine(config)
        self.hub = Hub(self.engine, frame)
        self.realtime = ConnectionRegistry(self.hub, keys, config)
        self.rest = RestApi(self.hub, keys, config, ready=lambda: self._server is not None)
        self.edges: set[EdgeProtocol] = set()
        self.clock = time.monotonic
        self._server: asyncio.base_events.Server | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self.loop = asyncio.get_event_loop()

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.engine.open()
        self._server = await self.loop.create_server(
            lambda: EdgeProtocol(self), self.config.host, self.config.port, backlog=4096, reuse_address=True)
        self._heartbeats = asyncio.create_task(self._heartbeat_loop())
        log.info("listening on %s:%d (engine %s)", self.config.host, self.port, self.config.engine)

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

    async def stop(self) -> None:
        """Stop accepting, tell realtime clients to reconnect elsewhere or later, flush commits."""
        if self._server is not None:
            self._server.close()
        if self._heartbeats is not None:
            self._heartbeats.cancel()
        await self.engine.close()
        await asyncio.sleep(0)  # let the last ACKs and deliveries go out
        goodbye = AblyError(80003, 503, "Broker shutting down; reconnect")
        for edge in list(self.edges):
            if edge.ws is not None:
                edge.ws.send({"action": Action.DISCONNECTED, "error": goodbye.to_wire()})
                edge.ws.close()
            elif edge.transport is not None:
                edge.transport.close()
        if self._server is not None:
            await self._server.wait_closed()
        log.info("stopped")
