"""tether-load's own options (added to Locust's parser, so they show in `--help` and the web UI,
and travel from the master to every worker) and what follows from them."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx

from client.auth import Auth
from client.options import ClientOptions

from .conn import Endpoint
from .roles import Plan

SCENARIOS = ("fanout", "personal", "sharded", "presence", "streaming", "storm")
PLAN_KEYS = ("scenario", "channel", "rate", "size", "subscribers", "publishers", "shards", "pub_attach",
             "conversations", "clients_per_conversation", "reply_tokens", "rollup_ms", "churn", "observers",
             "storm_at", "window", "duration", "format", "realtime_host", "port", "tls")


def add_arguments(parser: Any) -> None:
    g = parser.add_argument_group("tether-load", "Ably-protocol load (docs/load.md)")
    a = g.add_argument
    a("--scenario", choices=SCENARIOS, default="fanout",
      help="fanout: N subscribers on one channel, P publishers; personal: every user on its own channel, "
           "publishing to itself; sharded: N subscribers over K channels, P publishers round-robin; presence: N "
           "members enter then leave/re-enter at --churn, --observers of them count the events; streaming: "
           "--conversations agents stream replies by appends to --clients-per-conversation each; storm: fanout, "
           "then at --storm-at every subscriber connection drops at once and resumes")
    a("--realtime-host", default="127.0.0.1", help="broker host (like the SDKs' endpoint/realtimeHost)")
    a("--port", type=int, default=8080, help="broker port")
    a("--tls", action="store_true", default=False, help="connect with wss:// (verify the certificate)")
    a("--tls-insecure", action="store_true", default=False, help="with --tls, do not verify the certificate")
    a("--key", default="", help="API key APPID.KEYID:SECRET (basic auth on each connection)")
    a("--token", default="", help="a token or JWT used by every connection")
    a("--token-url", default="", help="fetched once per worker: a token, TokenDetails or TokenRequest "
                                       "(needs a wildcard clientId for presence)")
    a("--format", choices=("msgpack", "json"), default="msgpack", help="wire format")
    a("--channel", default="load", help="channel name (or prefix, for personal/sharded/presence/streaming)")
    a("--subscribers", type=int, default=100, help="N: subscribers (fanout, sharded, storm), users (personal), "
                                                  "members (presence)")
    a("--publishers", type=int, default=1, help="P: publishers (fanout, sharded, storm)")
    a("--rate", type=float, default=10.0, help="publishes/s: in total (fanout, sharded, storm), per user "
                                              "(personal), tokens/s per agent (streaming)")
    a("--size", type=int, default=100, help="bytes of data per message (>= 40: the record header)")
    a("--shards", type=int, default=10, help="K: channels (sharded)")
    a("--pub-attach", action="store_true", default=False, help="publishers attach before publishing")
    a("--window", type=int, default=0, help="max unacked publishes per publisher (0 = no limit)")
    a("--conversations", type=int, default=1, help="streaming: conversations (one agent each)")
    a("--clients-per-conversation", type=int, default=2, help="streaming: session clients per conversation")
    a("--reply-tokens", type=int, default=50, help="streaming: tokens per reply (one create + appends)")
    a("--rollup-ms", type=float, default=0.0, help="streaming: the agent sends the tokens of this window in one "
                                                   "append (0 = one append per token)")
    a("--churn", type=float, default=1.0, help="presence: leave/enter ops per member per second")
    a("--observers", type=int, default=10, help="presence: members that also receive presence events")
    a("--storm-at", type=float, default=5.0, help="storm: seconds after the start when every subscriber drops")
    a("--duration", type=float, default=10.0, help="seconds of publishing (after every device is attached)")
    a("--drain", type=float, default=5.0, help="seconds (at most) to wait for ACKs and deliveries at the end")
    a("--ready-timeout", type=float, default=60.0, help="seconds (at most) to wait for every device to attach")
    a("--max-connections", type=int, default=20000, help="refuse runs with more connections than this")
    a("--summary-json", default="", help="write the JSON summary here")
    a("--fail-on", default="", help="exit 1 if any rule holds, e.g. 'p99>50ms,loss>0,errors>0' "
                                    "(metrics: p50 p90 p99 p99.9 max mean loss loss_pct dup reorder errors "
                                    "nacked not_ready resume_failed storm_s bottleneck, ack_p99, connect_p99, ...)")
    a("--progress", type=float, default=2.0, help="seconds between headless progress lines")
    a("--clock-offset-ms", type=float, default=0.0, help="publisher-to-subscriber clock offset to state in the "
                                                         "report when workers are on different hosts")
    a("--allow-remote", action="store_true", default=False, help="allow a target outside 127.0.0.0/8 and ::1")


def publishers(o: Any) -> int:
    if o.scenario in ("fanout", "sharded", "storm"):
        return o.publishers
    if o.scenario == "streaming":
        return o.conversations
    return 0


def total_devices(o: Any) -> int:
    if o.scenario == "streaming":
        return o.conversations * (1 + o.clients_per_conversation)
    return o.subscribers + publishers(o)


def plan(o: Any) -> Plan:
    return Plan(scenario=o.scenario, channel=o.channel, rate=o.rate, size=o.size, shards=o.shards,
                pub_attach=o.pub_attach, conversations=o.conversations, reply_tokens=o.reply_tokens,
                rollup_ms=o.rollup_ms, churn=o.churn, observers=o.observers, storm_at=o.storm_at, window=o.window)


def check_target(o: Any) -> None:
    """Refuse what a local load test should never do by accident."""
    if total_devices(o) > o.max_connections:
        raise SystemExit(f"tether-load: {total_devices(o)} connections exceed --max-connections {o.max_connections}")
    if not (o.key or o.token or o.token_url):
        raise SystemExit("tether-load: give --key, --token or --token-url")
    if o.allow_remote:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(o.realtime_host, o.port)}
    except OSError as exc:
        raise SystemExit(f"tether-load: cannot resolve {o.realtime_host}: {exc}") from exc
    remote = [a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback]
    if remote:
        raise SystemExit(f"tether-load: {o.realtime_host} resolves to {', '.join(remote)}, not loopback; "
                         "pass --allow-remote to load a remote system")


def endpoint_placeholder(o: Any) -> Endpoint:
    return Endpoint(o.realtime_host, o.port, o.tls, o.format, {}, verify_tls=not o.tls_insecure)


async def resolve_endpoint(o: Any) -> Endpoint:
    """Credentials as connection parameters: the key as is, a token, or one fetched from --token-url."""
    if o.key and not (o.token or o.token_url):
        params = {"key": o.key}
    else:
        copts = ClientOptions(key=o.key or None, token=o.token or None, auth_url=o.token_url or None,
                              host=o.realtime_host, port=o.port, tls=o.tls)
        async with httpx.AsyncClient(verify=not o.tls_insecure) as http:
            details = await Auth(copts, http).current_token()
        params = {"accessToken": details.token}
    return Endpoint(o.realtime_host, o.port, o.tls, o.format, params, verify_tls=not o.tls_insecure)
