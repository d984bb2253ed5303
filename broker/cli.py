"""`python -m broker`: run the broker; `python -m broker token`: mint a development JWT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import secrets
import signal
import sys
import time
from pathlib import Path

import uvloop

from .auth import KeyStore, dev_token
from .config import Config
from .core.rollup import WINDOWS, parse_window
from .core.rules import ChannelRules
from .engine.retention import RetentionPolicy, RetentionRule, parse_rule
from .observe.logs import FORMATS as LOG_FORMATS
from .observe.logs import configure_logging
from .protocol.errors import AblyError
from .server.app import Broker

log = logging.getLogger("broker")

DEV_KEY_FILE = "dev-key.txt"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"BROKER_{name.upper()}", default)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m broker", description="Tether: a self-hosted Ably-protocol broker")
    parser.add_argument("--host", default=_env("host", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("port", "8080") or 8080))
    parser.add_argument("--engine", choices=["sqlite", "memory"], default=_env("engine", "sqlite"))
    parser.add_argument("--db", default=_env("db", "data/broker.db"), help="sqlite database path")
    env_keys = [k for k in (_env("key") or "").split(",") if k]
    parser.add_argument("--key", action="append", dest="keys", default=None,
                        help="API key APPID.KEYID:SECRET, optionally followed by =CAPABILITY-JSON (repeatable)")
    parser.add_argument("--log-level", default=_env("log_level", "info"),
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--max-message-size", type=int, default=int(_env("max_message_size", "65536") or 65536))
    parser.add_argument("--connection-state-ttl", type=float, default=float(_env("connection_state_ttl", "120") or 120),
                        help="seconds a dropped connection stays resumable")
    parser.add_argument("--max-idle-interval", type=float, default=float(_env("max_idle_interval", "15") or 15),
                        help="seconds of server silence before a heartbeat")
    parser.add_argument("--outbound-buffer", type=int, default=int(_env("outbound_buffer", str(8 << 20)) or 8 << 20),
                        help="bytes queued for one slow client before it is disconnected")
    parser.add_argument("--channel-rules", default=_env("channel_rules"),
                        help='JSON per namespace, e.g. {"locked": {"mutableMessages": false}}')
    env_retention = [rule for rule in (_env("retention") or "").split(";") if rule.strip()]
    parser.add_argument("--retention", action="append", type=_retention_rule, default=None, metavar="RULE",
                        help="'[PATTERN] [ttl=DURATION] [max=COUNT]', e.g. 'chat:* ttl=1h max=1000' (repeatable, "
                             "first match wins; default: keep everything)")
    parser.add_argument("--dedup-window", type=float, default=float(_env("dedup_window", "120") or 120),
                        help="seconds a client-supplied message id is remembered for idempotent publishing (0: off)")
    parser.add_argument("--append-rollup-window", type=_rollup_window, metavar="MS",
                        default=_env("append_rollup_window", "0"),
                        help=f"default ms over which live appends to a message are delivered as one "
                             f"({', '.join(map(str, WINDOWS))}; 0: off; Ably's default is 40)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=_env("log_format", "text"),
                        help="text lines, or one JSON object per line with connectionId/channel fields")
    parser.add_argument("--request-head-timeout", type=float, default=float(_env("request_head_timeout", "30") or 30),
                        help="seconds for a request head (a WebSocket upgrade's too) and between kept-alive requests")
    parser.add_argument("--request-body-timeout", type=float, default=float(_env("request_body_timeout", "60") or 60),
                        help="seconds from a request's head to the end of its body")
    parser.add_argument("--frame-timeout", type=float, default=float(_env("frame_timeout", "60") or 60),
                        help="seconds for a WebSocket frame or fragmented message, once started, to complete")
    parser.add_argument("--response-stall-timeout", type=float,
                        default=float(_env("response_stall_timeout", "30") or 30),
                        help="seconds an HTTP client may leave its response unread before it is cut off")
    parser.add_argument("--max-pending-connections", type=int,
                        default=int(_env("max_pending_connections", "1024") or 1024),
                        help="sockets waiting for a request head at once; more are answered 503 and closed")
    parser.add_argument("--max-unread-responses", type=int,
                        default=int(_env("max_unread_responses", str(64 << 20)) or 64 << 20),
                        help="HTTP response bytes left unread, all sockets together, before the longest-unread "
                             "sockets are cut off")
    parser.add_argument("--sandbox", action="store_true", default=_env("sandbox", "") in ("1", "true"),
                        help="provision apps at runtime like Ably's sandbox: POST /apps, DELETE /apps/{id} (off)")
    args = parser.parse_args(argv)
    if args.log_format not in LOG_FORMATS:
        parser.error(f"BROKER_LOG_FORMAT: use {' or '.join(LOG_FORMATS)}, not {args.log_format!r}")
    if args.keys is None:
        args.keys = env_keys
    if args.retention is None:
        try:
            args.retention = [parse_rule(rule) for rule in env_retention]
        except ValueError as exc:
            parser.error(f"BROKER_RETENTION: {exc}")
    return args


def _retention_rule(spec: str) -> RetentionRule:
    try:
        return parse_rule(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rollup_window(value: str) -> int:
    try:
        return parse_window(value, "--append-rollup-window")
    except AblyError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def token_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m broker token", description="Print an Ably JWT signed with KEY")
    parser.add_argument("--key", default=_env("key"), required=_env("key") is None)
    parser.add_argument("--client-id")
    parser.add_argument("--capability", default='{"*":["*"]}')
    parser.add_argument("--ttl", default="1h", help="e.g. 90s, 30m, 1h")
    args = parser.parse_args(argv)
    print(dev_token(None, args.key, args.client_id, args.capability, args.ttl, time.time_ns() // 1_000_000))


def development_key(db: Path) -> str:
    """Create the development key once and keep it beside the database."""
    path = db.parent / DEV_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = f"tether.dev:{secrets.token_urlsafe(24)}"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def snippet(key: str, host: str, port: int) -> str:
    return f"""
Development key: {key}

  // ably-js
  const client = new Ably.Realtime({{ key: '{key}', endpoint: '{host}', port: {port}, tls: false }});

  # Python (client/)
  async with Realtime(key='{key}', host='{host}', port={port}, tls=False) as client: ...
"""


def raise_fd_limit() -> None:
    """Every connection is a file descriptor: use the hard limit, not the 1024 soft default."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["token"]:
        token_main(argv[1:])
        return
    args = parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    config = Config(host=args.host, port=args.port, engine=args.engine, db=Path(args.db), keys=args.keys,
                    log_level=args.log_level, max_message_size=args.max_message_size,
                    connection_state_ttl_ms=int(args.connection_state_ttl * 1000),
                    max_idle_interval_ms=int(args.max_idle_interval * 1000),
                    outbound_buffer_limit=args.outbound_buffer, rules=ChannelRules.parse(args.channel_rules),
                    retention=RetentionPolicy(tuple(args.retention)), dedup_window_ms=int(args.dedup_window * 1000),
                    append_rollup_window_ms=args.append_rollup_window,
                    request_head_timeout_ms=int(args.request_head_timeout * 1000),
                    request_body_timeout_ms=int(args.request_body_timeout * 1000),
                    frame_timeout_ms=int(args.frame_timeout * 1000),
                    response_stall_timeout_ms=int(args.response_stall_timeout * 1000),
                    max_pending_connections=args.max_pending_connections,
                    max_unread_responses=args.max_unread_responses, log_format=args.log_format)
    config.sandbox = args.sandbox
    if not config.keys:
        key = development_key(config.db)
        config.keys = [key]
        print(snippet(key, config.host, config.port), file=sys.stderr)
    raise_fd_limit()
    uvloop.run(serve(config, KeyStore.from_specs(config.keys)))


async def serve(config: Config, keys: KeyStore) -> None:
    broker = Broker(config, keys)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    await stop.wait()
    log.info("shutting down")
    await broker.stop()
