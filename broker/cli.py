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
import sqlite3
import sys
import time
from importlib import metadata
from pathlib import Path

import uvloop

from .auth import KeyStore, dev_token
from .auth.keys import parse_key_spec, parse_keys_file, split_key_list
from .config import Config, StartupError
from .core.rollup import WINDOWS, parse_window
from .core.rules import ChannelRules
from .engine.retention import RetentionPolicy, RetentionRule, parse_rule
from .observe.logs import FORMATS as LOG_FORMATS
from .observe.logs import configure_logging
from .option_sources import OneLineParser, document, environment, resolve
from .protocol.errors import AblyError
from .server.app import Broker

log = logging.getLogger("broker")

DEV_KEY_FILE = "dev-key.txt"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"BROKER_{name.upper()}", default)


def prog_name() -> str:
    return "tether" if Path(sys.argv[0]).name == "tether" else "python -m broker"


def version() -> str:
    try:
        return metadata.version("tether")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog_name(), description="Tether: a self-hosted Ably-protocol broker. "
        "Each option is also read from its BROKER_* variable, then from the --config file; a flag wins over "
        "both, a variable over the file.",
        epilog=f"Mint a development JWT: {prog_name()} token --key KEY --client-id alice (see token --help).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--engine", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--db", default="data/broker.db", help="sqlite database path")
    parser.add_argument("--key", action="append", dest="keys", type=_key_spec, default=[], metavar="KEY",
                        help="API key APPID.KEYID:SECRET, optionally followed by ={CAPABILITY-JSON} (repeatable; "
                             "in BROKER_KEY comma-separated, a capability's own commas are allowed)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--max-message-size", type=int, default=65536)
    parser.add_argument("--connection-state-ttl", type=float, default=120.0,
                        help="seconds a dropped connection stays resumable")
    parser.add_argument("--max-idle-interval", type=float, default=15.0,
                        help="seconds of server silence before a heartbeat")
    parser.add_argument("--outbound-buffer", type=int, default=8 << 20,
                        help="bytes queued for one slow client before it is disconnected")
    parser.add_argument("--channel-rules", type=_channel_rules, default=None,
                        help='JSON per namespace, e.g. {"locked": {"mutableMessages": false}}')
    parser.add_argument("--retention", action="append", type=_retention_rule, default=[], metavar="RULE",
                        help="'[PATTERN] [ttl=DURATION] [max=COUNT]', e.g. 'chat:* ttl=1h max=1000' (repeatable, "
                             "first match wins; BROKER_RETENTION ;-separated)")
    parser.add_argument("--dedup-window", type=float, default=120.0,
                        help="seconds a client-supplied message id is remembered for idempotent publishing (0: off)")
    parser.add_argument("--append-rollup-window", type=_rollup_window, metavar="MS", default=0,
                        help=f"default ms over which live appends to a message are delivered as one "
                             f"({', '.join(map(str, WINDOWS))}; 0: off; Ably's default is 40)")
    parser.add_argument("--tls-cert", type=Path, default=None, metavar="PEM",
                        help="certificate chain: serve HTTPS and WSS on the port (with --tls-key)")
    parser.add_argument("--tls-key", type=Path, default=None, metavar="PEM", help="private key of --tls-cert")
    parser.add_argument("--keys-file", type=Path, default=None, metavar="PATH",
                        help="more keys, one 'APPID.KEYID:SECRET [CAPABILITY-JSON]' per line (# comments)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                        help="text lines, or one JSON object per line with connectionId/channel fields")
    parser.add_argument("--request-head-timeout", type=float, default=30.0,
                        help="seconds for a request head (a WebSocket upgrade's too) and between kept-alive requests")
    parser.add_argument("--request-body-timeout", type=float, default=60.0,
                        help="seconds from a request's head to the end of its body")
    parser.add_argument("--frame-timeout", type=float, default=60.0,
                        help="seconds for a WebSocket frame or fragmented message, once started, to complete")
    parser.add_argument("--response-stall-timeout", type=float, default=30.0,
                        help="seconds an HTTP client may leave its response unread before it is cut off")
    parser.add_argument("--max-pending-connections", type=int, default=1024,
                        help="sockets waiting for a request head at once; more are answered 503 and closed")
    parser.add_argument("--max-unread-responses", type=int, default=64 << 20,
                        help="HTTP response bytes left unread, all sockets together, before the longest-unread "
                             "sockets are cut off")
    parser.add_argument("--sandbox", action="store_true", default=False,
                        help="provision apps at runtime like Ably's sandbox: POST /apps, DELETE /apps/{id}")
    document(parser, {"keys": "a development key kept beside --db in dev-key.txt", "retention": "keep everything",
                      "channel_rules": "every namespace allows update/delete/append"})
    parser.add_argument("--config", type=Path, metavar="TOML",
                        help="config file: option = value per line, e.g. port = 8080, key = ['a.b:secret'] "
                             "[env BROKER_CONFIG]")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return parser


def _split_keys(text: str) -> list[str]:
    try:
        return split_key_list(text)
    except AblyError as exc:
        raise ValueError(exc.message) from None


ENV_SPLITTERS = {
    "key": _split_keys,
    "retention": lambda text: [rule for rule in text.split(";") if rule.strip()],
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    args = resolve(build_parser(), argv, environment(), ENV_SPLITTERS)
    if args.keys_file is not None:
        args.keys = [*args.keys, *read_keys_file(args.keys_file)]
    return args


def read_keys_file(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise StartupError(f"cannot read the keys file {path}: {exc.strerror or exc}") from exc
    try:
        specs = parse_keys_file(text, str(path))
    except AblyError as exc:
        raise StartupError(exc.message) from None
    if not specs:
        raise StartupError(f"the keys file {path} has no keys")
    return specs


def _key_spec(spec: str) -> str:
    try:
        parse_key_spec(spec)
    except AblyError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return spec


def _channel_rules(text: str) -> ChannelRules:
    try:
        return ChannelRules.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    parser = OneLineParser(prog=f"{prog_name()} token", description="Print an Ably JWT signed with KEY")
    env_keys = split_key_list(_env("key") or "")
    parser.add_argument("--key", default=env_keys[0] if env_keys else None, required=not env_keys,
                        help="APPID.KEYID:SECRET [default: the first key of BROKER_KEY]")
    parser.add_argument("--client-id")
    parser.add_argument("--capability", default='{"*":["*"]}')
    parser.add_argument("--ttl", default="1h", help="e.g. 90s, 30m, 1h")
    args = parser.parse_args(argv)
    try:
        print(dev_token(None, args.key, args.client_id, args.capability, args.ttl, time.time_ns() // 1_000_000))
    except AblyError as exc:
        parser.exit(2, f"{parser.prog}: {exc.message}\n")


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


def snippet(key: str, host: str, port: int, tls: bool = False) -> str:
    js_port, py_tls = (f"tlsPort: {port}, tls: true", "True") if tls else (f"port: {port}, tls: false", "False")
    return f"""
Development key: {key}

  // ably-js
  const client = new Ably.Realtime({{ key: '{key}', endpoint: '{host}', {js_port} }});

  # Python (client/)
  async with Realtime(key='{key}', host='{host}', port={port}, tls={py_tls}) as client: ...
"""


def raise_fd_limit() -> None:
    """Every connection is a file descriptor: use the hard limit, not the 1024 soft default."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


def main(argv: list[str] | None = None) -> None:
    """Run the broker; a startup mistake is one line on stderr and exit status 1 (2 for usage)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["token"]:
        token_main(argv[1:])
        return
    try:
        config, keys, developing = configure(argv)
        raise_fd_limit()
        uvloop.run(serve(config, keys, developing))
    except StartupError as exc:
        sys.exit(f"{prog_name()}: {exc}")


def configure(argv: list[str]) -> tuple[Config, KeyStore, bool]:
    args = parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    config = Config(host=args.host, port=args.port, engine=args.engine, db=Path(args.db), keys=args.keys,
                    log_level=args.log_level, max_message_size=args.max_message_size,
                    connection_state_ttl_ms=int(args.connection_state_ttl * 1000),
                    max_idle_interval_ms=int(args.max_idle_interval * 1000),
                    outbound_buffer_limit=args.outbound_buffer, rules=args.channel_rules or ChannelRules(),
                    retention=RetentionPolicy(tuple(args.retention)), dedup_window_ms=int(args.dedup_window * 1000),
                    append_rollup_window_ms=args.append_rollup_window, tls_cert=args.tls_cert, tls_key=args.tls_key,
                    request_head_timeout_ms=int(args.request_head_timeout * 1000),
                    request_body_timeout_ms=int(args.request_body_timeout * 1000),
                    frame_timeout_ms=int(args.frame_timeout * 1000),
                    response_stall_timeout_ms=int(args.response_stall_timeout * 1000),
                    max_pending_connections=args.max_pending_connections,
                    max_unread_responses=args.max_unread_responses, log_format=args.log_format,
                    sandbox=args.sandbox)
    developing = not config.keys
    if developing:
        try:
            config.keys = [development_key(config.db)]
        except OSError as exc:
            raise StartupError(storage_problem(exc)) from exc
    try:
        keys = KeyStore.from_specs(config.keys)
    except (AblyError, ValueError) as exc:
        raise StartupError(f"bad keys: {exc}") from None
    return config, keys, developing


def storage_problem(exc: OSError | sqlite3.Error) -> str:
    """A file the broker must write (database, dev key) cannot be: say which and what to do."""
    if isinstance(exc, sqlite3.Error):
        return f"cannot open the SQLite database: {exc}; check that its directory is writable, or choose --db"
    target = exc.filename or "a file"
    return (f"cannot write {target}: {exc.strerror or exc}; make its directory writable, choose another --db, "
            f"or use --engine memory")


async def serve(config: Config, keys: KeyStore, developing: bool = False) -> None:
    try:
        broker = Broker(config, keys)
        await broker.start()
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(storage_problem(exc)) from exc
    if developing:
        print(snippet(config.keys[0], config.host, broker.port, broker.tls), file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await broker.stop()
