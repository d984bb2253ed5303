"""Broker settings: one dataclass, filled by the CLI from flags and BROKER_* variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .core.rules import ChannelRules
from .engine.dedup import DEFAULT_WINDOW_MS
from .engine.retention import RetentionPolicy


@dataclass(slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    engine: str = "sqlite"
    db: Path = Path("data/broker.db")
    keys: list[str] = field(default_factory=list)
    log_level: str = "info"
    server_id: str = "tether-1"
    max_message_size: int = 65536
    max_frame_size: int = 524288
    max_inbound_rate: int = 250
    connection_state_ttl_ms: int = 120_000
    max_idle_interval_ms: int = 15_000
    outbound_buffer_limit: int = 8 * 1024 * 1024
    max_http_body: int = 2 * 1024 * 1024
    rules: ChannelRules = field(default_factory=ChannelRules)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    dedup_window_ms: int = DEFAULT_WINDOW_MS
    append_rollup_window_ms: int = 0  # live appends coalesced per window (0: each delivered as it comes)
    log_format: str = "text"  # or "json" (broker/observe/logs.py)
    request_head_timeout_ms: int = 30_000  # for a request head (an upgrade's too), and between kept-alive requests
    request_body_timeout_ms: int = 60_000  # from a request's head to the end of its body
    frame_timeout_ms: int = 60_000  # a WebSocket frame (or fragmented message), once started, must complete
    response_stall_timeout_ms: int = 30_000  # an HTTP client that reads none of its response for this long is cut off
    max_pending_connections: int = 1024  # sockets waiting for a request head; more are answered 503 and closed
    max_unread_responses: int = 64 * 1024 * 1024  # HTTP response bytes clients leave unread, all sockets together
    sandbox: bool = False  # POST /apps and DELETE /apps/{id} provision apps at runtime (core/provisioning)
    tls_cert: Path | None = None  # with tls_key: HTTPS and WSS on the one port
    tls_key: Path | None = None


class StartupError(Exception):
    """A setting or the machine stops the broker from starting; the message is the one line shown."""
