"""One broker's metrics: plain counters bumped on the hot path, read by Prometheus at scrape time.

The hot path only adds to attributes of `Metrics` (no label lookups, no locks); a custom
collector turns them into metric families when `/metrics` is scraped, together with gauges
read then from the broker's own state (connections, channels, presence, storage). The two
latency histograms are prometheus_client's, observed once per publish and once per commit.
Each broker has its own CollectorRegistry, so several brokers can share one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .stats import StatsLog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(slots=True)
class Gauges:
    """Callables the broker supplies, each read once per scrape (or stats sample)."""

    connections: Callable[[], int] = lambda: 0  # with a live transport
    resumable: Callable[[], int] = lambda: 0  # transport lost, state kept for resume
    attachments: Callable[[], int] = lambda: 0
    channels: Callable[[], int] = lambda: 0  # live channels (someone attached)
    presence_members: Callable[[], int] = lambda: 0
    storage_bytes: Callable[[], int | None] = lambda: None  # None: the engine keeps nothing on disk


class Metrics:
    """Counters of one broker. Attribute names say what is counted; `*_bytes` are wire bytes."""

    def __init__(self) -> None:
        self.connections_opened = 0
        self.connections_refused = 0
        self.resumes_ok = 0
        self.resumes_failed = 0
        self.slow_consumer_cutoffs = 0
        self.channels_opened = 0
        self.realtime_messages_in = 0
        self.realtime_message_bytes_in = 0  # Ably's message size (data, name, clientId, extras)
        self.rest_messages_in = 0
        self.rest_message_bytes_in = 0
        self.presence_messages_in = 0
        self.presence_message_bytes_in = 0
        self.messages_out = 0  # messages written to subscribers, live and replayed
        self.message_frame_bytes_out = 0  # bytes of the frames that carried them
        self.bytes_in = 0  # socket bytes read, HTTP and WebSocket
        self.bytes_out = 0  # socket bytes written for frames and HTTP responses
        self.acks = 0  # msgSerials acknowledged
        self.nacks: dict[int, int] = {}  # msgSerials refused, by Ably error code
        self.api_requests_ok = 0
        self.api_requests_failed = 0
        self.token_requests_ok = 0
        self.gauges = Gauges()
        self.registry = CollectorRegistry(auto_describe=True)
        self.publish_seconds = Histogram(
            "tether_publish_latency_seconds", "From a publish being read to its ACK or HTTP answer being ready",
            ["transport"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.realtime_publish = self.publish_seconds.labels("realtime")  # children resolved once, not per call
        self.rest_publish = self.publish_seconds.labels("rest")
        self.commit_seconds = Histogram(
            "tether_commit_latency_seconds", "Duration of one durable group commit (sqlite engine)",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_Collector(self))
        self.stats = StatsLog()

    def nack(self, code: int) -> None:
        self.nacks[code] = self.nacks.get(code, 0) + 1

    def render(self) -> bytes:
        """The Prometheus text exposition of this broker."""
        return generate_latest(self.registry)

    def sample_stats(self, now_ms: int) -> None:
        """Fold the current totals into the Ably stats intervals (each second, and before a read)."""
        self.stats.sample(now_ms, self.ably_totals(), {"connections.all": self.gauges.connections(),
                                                       "channels": self.gauges.channels()})

    def ably_totals(self) -> dict[str, int]:
        """Cumulative counts under Ably's stats entry names (app-stats schema)."""
        rt, rt_data = self.realtime_messages_in, self.realtime_message_bytes_in
        rest, rest_data = self.rest_messages_in, self.rest_message_bytes_in
        pres, pres_data = self.presence_messages_in, self.presence_message_bytes_in
        out, out_data = self.messages_out, self.message_frame_bytes_out
        inbound = {
            "messages.inbound.realtime.messages.count": rt, "messages.inbound.realtime.messages.data": rt_data,
            "messages.inbound.realtime.presence.count": pres, "messages.inbound.realtime.presence.data": pres_data,
            "messages.inbound.realtime.all.count": rt + pres, "messages.inbound.realtime.all.data": rt_data + pres_data,
            "messages.inbound.rest.messages.count": rest, "messages.inbound.rest.messages.data": rest_data,
            "messages.inbound.rest.all.count": rest, "messages.inbound.rest.all.data": rest_data,
            "messages.inbound.all.messages.count": rt + rest, "messages.inbound.all.messages.data": rt_data + rest_data,
            "messages.inbound.all.presence.count": pres, "messages.inbound.all.presence.data": pres_data,
            "messages.inbound.all.all.count": rt + rest + pres,
            "messages.inbound.all.all.data": rt_data + rest_data + pres_data,
        }
        outbound = {
            "messages.outbound.realtime.messages.count": out, "messages.outbound.realtime.messages.data": out_data,
            "messages.outbound.realtime.all.count": out, "messages.outbound.realtime.all.data": out_data,
            "messages.outbound.all.messages.count": out, "messages.outbound.all.messages.data": out_data,
            "messages.outbound.all.all.count": out, "messages.outbound.all.all.data": out_data,
        }
        return {
            **inbound, **outbound,
            "messages.all.messages.count": rt + rest + out, "messages.all.messages.data": rt_data + rest_data + out_data,
            "messages.all.presence.count": pres, "messages.all.presence.data": pres_data,
            "messages.all.all.count": rt + rest + pres + out,
            "messages.all.all.data": rt_data + rest_data + pres_data + out_data,
            "connections.all.opened": self.connections_opened, "connections.all.refused": self.connections_refused,
            "channels.opened": self.channels_opened,
            "apiRequests.all.succeeded": self.api_requests_ok, "apiRequests.all.failed": self.api_requests_failed,
            "apiRequests.tokenRequests.succeeded": self.token_requests_ok,
        }


class _Collector(Collector):
    """Reads `Metrics` and its gauges when scraped; nothing here runs on the hot path."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m, g = self._m, self._m.gauges
        yield _gauge("tether_connections", "Realtime connections with a live transport", g.connections())
        yield _gauge("tether_connections_resumable", "Connections whose transport was lost, kept for resume",
                     g.resumable())
        yield _gauge("tether_channels", "Live channels (at least one attachment)", g.channels())
        yield _gauge("tether_attachments", "Channel attachments over all connections", g.attachments())
        yield _gauge("tether_presence_members", "Presence members over all channels", g.presence_members())
        size = g.storage_bytes()
        if size is not None:
            yield _gauge("tether_storage_bytes", "Size of the store on disk (SQLite database, WAL and shm)", size)
        yield _counter("tether_connections_opened", "New realtime connections", m.connections_opened)
        yield _counter("tether_connections_refused", "Realtime connection attempts refused", m.connections_refused)
        resumes = CounterMetricFamily("tether_resumes", "Connection resume attempts", labels=["result"])
        resumes.add_metric(["resumed"], m.resumes_ok)
        resumes.add_metric(["failed"], m.resumes_failed)
        yield resumes
        yield _counter("tether_slow_consumer_disconnects", "Connections cut off for not reading fast enough",
                       m.slow_consumer_cutoffs)
        yield _counter("tether_channels_opened", "Channels that became live", m.channels_opened)
        inbound = CounterMetricFamily("tether_messages_received", "Messages published to the broker",
                                      labels=["transport"])
        inbound.add_metric(["realtime"], m.realtime_messages_in)
        inbound.add_metric(["rest"], m.rest_messages_in)
        yield inbound
        yield _counter("tether_presence_messages_received", "Presence messages from realtime clients",
                       m.presence_messages_in)
        yield _counter("tether_messages_delivered", "Messages written to subscribers, live and replayed",
                       m.messages_out)
        yield _counter("tether_bytes_received", "Socket bytes read (HTTP and WebSocket)", m.bytes_in)
        yield _counter("tether_bytes_sent", "Socket bytes written for frames and HTTP responses", m.bytes_out)
        yield _counter("tether_acks", "msgSerials acknowledged (ACK)", m.acks)
        nacks = CounterMetricFamily("tether_nacks", "msgSerials refused (NACK), by Ably error code", labels=["code"])
        for code, count in sorted(m.nacks.items()):
            nacks.add_metric([str(code)], count)
        yield nacks
        requests = CounterMetricFamily("tether_api_requests", "REST requests answered", labels=["result"])
        requests.add_metric(["succeeded"], m.api_requests_ok)
        requests.add_metric(["failed"], m.api_requests_failed)
        yield requests


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
