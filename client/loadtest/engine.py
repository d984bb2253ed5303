"""The asyncio side of a load worker: one uvloop in its own OS thread runs every connection.

Locust runs users as gevent greenlets; a gevent WebSocket client per connection costs more
CPU per received frame than an asyncio Protocol (benchmarks/results/load.md has the
measurement), so each worker process starts one real thread with a uvloop and the Locust
users only hand it work. The two sides share plain data under the GIL; nothing here blocks
the gevent hub, and nothing on the gevent side waits on an asyncio future.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvloop

from .conn import AblyConnection, AblyProtocolError, Endpoint
from .metrics import Histogram, Subscriber
from .records import parse

log = logging.getLogger("tether_load")

HISTOGRAMS = ("deliver", "connect", "attach", "ack", "sync", "resume", "loop_lag")
_LAG_TICK = 0.05


@dataclass
class Ledger:
    """What one publisher sent on one channel: seqs 1..sent, of which acked/nacked so far."""

    sent: int = 0
    acked: int = 0
    nacked: int = 0


@dataclass
class WorkerState:
    """Everything a worker measured; mutated only on the engine thread."""

    hist: dict[str, Histogram] = field(default_factory=lambda: {k: Histogram() for k in HISTOGRAMS})  # totals
    delta: dict[str, Histogram] = field(default_factory=lambda: {k: Histogram() for k in HISTOGRAMS})
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    subscribers: list[tuple[Subscriber, tuple[str, ...]]] = field(default_factory=list)
    ledgers: dict[tuple[str, str], Ledger] = field(default_factory=dict)
    storm: dict[str, Any] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)  # process CPU % per second, while running

    def observe(self, name: str, us: int) -> None:
        self.delta[name].add(us)

    def take(self) -> dict[str, Histogram]:
        """The histograms since the last take; each is also folded into the run's totals (`hist`)."""
        out = {k: h.take() for k, h in self.delta.items()}
        for k, h in out.items():
            self.hist[k].merge(h)
        return out


class Engine:
    """Runs device coroutines on a private uvloop thread and keeps their measurements."""

    def __init__(self, endpoint: Endpoint, start_thread: Callable[[Callable[[], None]], Any]) -> None:
        self.endpoint = endpoint  # replaced by `configure` once credentials are resolved
        self.state = WorkerState()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.go_at: float | None = None  # wall clock when publishing may start
        self.stopping = False
        self.done: collections.deque[dict[str, Any]] = collections.deque()  # results for the gevent side
        self.devices: list[Device] = []
        self._ready_loop = False
        self._go: asyncio.Event | None = None
        self._configured: asyncio.Event | None = None
        start_thread(self._run)
        deadline = time.monotonic() + 10
        while not self._ready_loop and time.monotonic() < deadline:  # the gevent side may spin here once
            time.sleep(0.001)

    def _run(self) -> None:
        loop = uvloop.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        self._go = asyncio.Event()
        self._configured = asyncio.Event()
        loop.create_task(self._watch_loop())
        self._ready_loop = True
        loop.run_forever()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the engine thread (from any thread)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn, *args)

    def spawn(self, factory: Callable[[], Awaitable[Any]]) -> None:
        self.call(lambda: self.loop.create_task(self._guard(factory)))  # type: ignore[union-attr]

    async def _guard(self, factory: Callable[[], Awaitable[Any]]) -> None:
        try:
            await factory()
        except AblyProtocolError as exc:
            self.state.errors[str(exc.code)] += 1
        except TimeoutError:
            self.state.errors["timeout"] += 1
        except OSError as exc:
            self.state.errors[f"os:{exc.__class__.__name__}"] += 1
        except Exception:  # a bug in a role must show, not silently shrink the load
            log.exception("device failed")
            self.state.errors["internal"] += 1

    def configure(self, resolve: Callable[[], Awaitable[Endpoint]]) -> None:
        """Resolve credentials (a token URL is fetched once per worker) before any device connects."""
        async def _resolve() -> None:
            try:
                self.endpoint = await resolve()
            finally:
                assert self._configured is not None
                self._configured.set()
        self.call(lambda: self.loop.create_task(_resolve()))  # type: ignore[union-attr]

    async def configured(self) -> None:
        assert self._configured is not None
        await self._configured.wait()

    def storm(self) -> None:
        """Drop every subscriber connection at once; each resumes immediately."""
        async def _storm() -> None:
            from .roles import Listener
            listeners = [d for d in self.devices if isinstance(d, Listener)]
            t0 = time.perf_counter()
            results = await asyncio.gather(*(self._guard(d.storm) for d in listeners))
            self.state.storm = {"dropped": len(listeners), "all_resumed_s": round(time.perf_counter() - t0, 4),
                                "completed": len(results)}
        self.call(lambda: self.loop.create_task(_storm()))  # type: ignore[union-attr]

    def shutdown(self) -> None:
        """Close every device and stop the loop (its thread then ends)."""
        def _stop() -> None:
            for device in self.devices:
                device.close()
            assert self.loop is not None
            self.loop.call_later(0.5, self.loop.stop)
        self.call(_stop)

    def error(self, code: int | str) -> None:
        self.state.errors[str(code)] += 1

    async def _watch_loop(self) -> None:
        """Event-loop lag (how late a 50 ms timer fires) and this process's CPU use per second."""
        loop = asyncio.get_running_loop()
        cpu0, wall0 = time.process_time(), time.monotonic()
        while True:
            t = loop.time()
            await asyncio.sleep(_LAG_TICK)
            if self.go_at is not None and not self.stopping:  # the measured phase only, like the CPU
                self.state.observe("loop_lag", int(max(0.0, loop.time() - t - _LAG_TICK) * 1e6))
            now = time.monotonic()
            if now - wall0 >= 1.0:
                cpu = time.process_time()
                if self.go_at is not None and not self.stopping:
                    self.state.cpu.append(round(100 * (cpu - cpu0) / (now - wall0), 1))
                cpu0, wall0 = cpu, now

    # --- gates ------------------------------------------------------------------------------

    def go(self, at_wall: float) -> None:
        def _set() -> None:
            self.go_at = at_wall
            assert self._go is not None
            self._go.set()
        self.call(_set)

    async def wait_go(self) -> None:
        assert self._go is not None
        await self._go.wait()
        delay = (self.go_at or 0) - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    def take_delta(self) -> None:
        """Hand the histograms since the last call to the gevent side (for Locust's live stats)."""
        self.call(self._push_delta)

    def _push_delta(self) -> None:
        self.done.append({"delta": self.state.take(), "errors": dict(self.state.errors),
                          "counts": dict(self.state.counts)})

    def finish(self, drain: float) -> None:
        """Stop publishing, wait (bounded) for ACKs and deliveries to settle, then report."""
        self.call(lambda: self.loop.create_task(self._finish(drain)))  # type: ignore[union-attr]

    async def _finish(self, drain: float) -> None:
        self.stopping = True
        deadline = time.monotonic() + drain
        st = self.state
        while time.monotonic() < deadline:
            pending = sum(1 for lg in st.ledgers.values() if lg.acked + lg.nacked < lg.sent)
            before = st.counts["delivered"] + st.counts["presence_events"]
            await asyncio.sleep(0.5)
            settled = before == st.counts["delivered"] + st.counts["presence_events"]
            if not pending and settled:
                break
        for device in self.devices:
            device.close()
        self._push_delta()  # the last partial second reaches the timeline before the final report
        self.done.append({"final": self.report()})

    def report(self) -> dict[str, Any]:
        st = self.state
        st.take()
        outcomes: collections.Counter[Any] = collections.Counter(
            sub.outcome(channels) for sub, channels in st.subscribers)
        return {
            "pid": os.getpid(),
            "hist": {k: h.to_wire() for k, h in st.hist.items()},
            "counts": dict(st.counts),
            "errors": dict(st.errors),
            "ledgers": [[c, p, lg.sent, lg.acked, lg.nacked] for (c, p), lg in st.ledgers.items()],
            "outcomes": [[list(channels), [list(r) for r in rows], n] for (channels, rows), n in outcomes.items()],
            "storm": st.storm,
            "cpu": st.cpu,
        }


class Device:
    """One connection with a role; subclasses implement `run()` (see roles.py)."""

    def __init__(self, engine: Engine, gid: str) -> None:
        self.engine = engine
        self.gid = gid
        self.conn = AblyConnection(engine.endpoint, client_id=gid, on_error=engine.error)
        self.sub: Subscriber | None = None
        engine.devices.append(self)

    async def open(self) -> None:
        await self.engine.configured()
        self.conn.endpoint = self.engine.endpoint
        st = self.engine.state
        t0 = time.perf_counter_ns()
        await self.conn.connect()
        st.observe("connect", (time.perf_counter_ns() - t0) // 1000)
        st.counts["connected"] += 1

    async def attach(self, channel: str, flags: int = 0) -> None:
        st = self.engine.state
        t0 = time.perf_counter_ns()
        await self.conn.attach(channel, flags)
        st.observe("attach", (time.perf_counter_ns() - t0) // 1000)
        st.counts["attached"] += 1

    def subscribe(self, channels: tuple[str, ...]) -> None:
        """Count every record delivered on `channels`: latency, and loss/dup/reorder per origin."""
        sub = self.sub = Subscriber()
        self.engine.state.subscribers.append((sub, channels))
        st = self.engine.state
        delta, counts = st.delta["deliver"], st.counts

        def on_messages(channel: str, messages: list[dict[str, Any]], now: int) -> None:
            n = 0
            for m in messages:
                data = m.get("data")
                if type(data) is str and len(data) > 22 and data[19] == " " and data.find("\n") == len(data) - 1:
                    end = data.find(" ", 20)  # the usual case, one record: parsed inline
                    origin, _, seq = data[20:end].rpartition("/")
                    try:
                        records: Any = ((int(data[:19]), origin, int(seq)),)
                    except ValueError:
                        continue
                else:
                    records = parse(data)
                for t, origin, seq in records:
                    delta.add((now - t) // 1000)
                    sub.see(channel, origin, seq)
                    n += 1
            counts["delivered"] += n

        self.conn.on_messages = on_messages

    def ready(self) -> None:
        self.engine.state.counts["ready"] += 1

    def ledger(self, channel: str) -> Any:
        key = (channel, self.gid)
        lg = self.engine.state.ledgers.get(key)
        if lg is None:
            lg = self.engine.state.ledgers[key] = Ledger()
        return lg

    def close(self) -> None:
        self.conn.close()

    async def run(self) -> None:
        raise NotImplementedError
