"""One WebSocket to the server: ordered writes, a read loop feeding a handler, an idle watchdog."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ..errors import AblyError, disconnected
from ..wire import Format, pack, unpack

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024 * 1024
MAX_QUEUED_FRAMES = 1024


class Transport:
    """Frames go out in the order `send` was called; each inbound frame is handed to `on_frame`.

    `on_frame` runs synchronously in the read loop, so protocol handling sees frames strictly in
    order and never awaits; it can end the transport with `finish()`.
    """

    def __init__(self, ws: ClientConnection, fmt: Format, on_frame: Callable[[dict[str, Any]], None]) -> None:
        self._ws = ws
        self._fmt = fmt
        self._on_frame = on_frame
        self._outbox: deque[bytes | str] = deque()
        self._outbox_ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._last_activity = self._loop.time()
        self._idle_timeout: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._finished = False
        self.reason: AblyError | None = None

    @classmethod
    async def open(cls, url: str, fmt: Format, timeout: float,
                   on_frame: Callable[[dict[str, Any]], None]) -> Transport:
        """Open the socket or raise AblyError 80003 (a transient failure: retry later)."""
        try:
            ws = await websockets.connect(url, open_timeout=timeout, ping_interval=None, compression=None,
                                          max_size=MAX_FRAME, max_queue=MAX_QUEUED_FRAMES)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise disconnected(f"Unable to open a WebSocket: {exc or type(exc).__name__}") from exc
        return cls(ws, fmt, on_frame)

    def send(self, frame: dict[str, Any]) -> None:
        if self._finished:
            return
        self._outbox.append(pack(frame, self._fmt))
        self._outbox_ready.set()

    def set_idle_timeout(self, seconds: float | None) -> None:
        """Abort when nothing arrives for `seconds` (any frame, heartbeats included, counts)."""
        self._idle_timeout = seconds
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if seconds:
            self._idle_timer = self._loop.call_at(self._last_activity + seconds, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._idle_timeout is None or self._finished:
            return
        due = self._last_activity + self._idle_timeout
        if self._loop.time() >= due:
            self.abort(disconnected(f"No activity from the server for {self._idle_timeout:g}s"))
        else:
            self._idle_timer = self._loop.call_at(due, self._check_idle)

    def finish(self, reason: AblyError | None = None) -> None:
        """End the read loop after the current frame; the socket is then closed."""
        if not self._finished:
            self._finished = True
            self.reason = reason
            self._outbox_ready.set()

    def abort(self, reason: AblyError) -> None:
        """Drop the socket now, without a closing handshake (it may be dead)."""
        self.finish(reason)
        self._ws.transport.abort()

    async def run(self) -> AblyError | None:
        """Read until the socket ends or `finish()`; returns why it ended (None = finished cleanly)."""
        writer = asyncio.create_task(self._write_loop())
        try:
            async for frame in self._ws:
                self._last_activity = self._loop.time()
                try:
                    pm = unpack(frame, self._fmt)
                except AblyError as exc:
                    log.error("Discarding a malformed frame from the server: %s", exc)
                    continue
                if not isinstance(pm, dict):
                    log.error("Discarding a frame that is not a ProtocolMessage: %r", pm)
                    continue
                try:
                    self._on_frame(pm)
                except Exception:
                    log.exception("Error handling %r frame", pm.get("action"))
                if self._finished:
                    break
        except ConnectionClosed:
            pass
        finally:
            if not self._finished:
                self.finish(disconnected("Connection to the server closed"))
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            try:
                await asyncio.wait_for(writer, timeout=1.0)  # flush what was queued before the end
            except TimeoutError:
                pass
            finally:
                await self.close()
        return self.reason

    async def _write_loop(self) -> None:
        ws = self._ws
        try:
            while not self._finished or self._outbox:
                if not self._outbox:
                    self._outbox_ready.clear()
                    await self._outbox_ready.wait()
                    continue
                await ws.send(self._outbox.popleft())
        except ConnectionClosed:
            pass
        except OSError as exc:
            log.debug("Write failed: %s", exc)

    async def close(self) -> None:
        """Close politely but without waiting long: the peer may be gone."""
        self._finished = True
        try:
            await asyncio.wait_for(self._ws.close(), timeout=1.0)
        except (TimeoutError, ConnectionClosed, OSError):
            self._ws.transport.abort()
