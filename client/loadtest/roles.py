"""What each device does in each scenario; every role runs on the engine thread.

Publishing starts only after the master's "go" (every device of the run is attached), so a
subscriber is owed every message published on its channels and loss is exact. Publishers pace
by schedule (publish k is due at go + k/rate): a late publisher catches up and counts the
lateness (`late_publishes`, a sign the generator itself is saturated).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .engine import Device, Engine
from .metrics import Subscriber
from .records import parse, record

F_PRESENCE, F_PUBLISH, F_SUBSCRIBE, F_PRESENCE_SUBSCRIBE = 1 << 16, 1 << 17, 1 << 18, 1 << 19
P_ENTER, P_LEAVE = 2, 3
F_RESUMED = 1 << 2
LATE_NS = 10_000_000  # a publish sent 10 ms after its due time is late


@dataclass(frozen=True)
class Plan:
    """Scenario parameters, as parsed from the command line (see cli.py for their meaning)."""

    scenario: str
    channel: str = "load"
    rate: float = 10.0  # publishes/s in total (fanout, sharded, storm), per user (personal), per agent (streaming)
    size: int = 100
    shards: int = 10
    pub_attach: bool = False
    conversations: int = 1
    reply_tokens: int = 50
    rollup_ms: float = 0.0
    churn: float = 1.0  # presence enter/leave ops per member per second
    observers: int = 10
    storm_at: float = 5.0
    window: int = 0  # max unacked publishes per publisher (0 = unlimited)


class Pacer:
    """Sends `n` due items per tick, tracking lateness against the schedule."""

    def __init__(self, engine: Engine, rate: float, offset: float = 0.0) -> None:
        self.engine = engine
        self.interval_ns = int(1e9 / rate) if rate > 0 else 0
        self.start = 0
        self.offset_ns = int(offset * 1e9)
        self.k = 0

    async def next(self) -> bool:
        """Wait until the next item is due; False once the run is stopping."""
        if self.engine.stopping:
            return False
        if not self.start:
            self.start = int((self.engine.go_at or time.time()) * 1e9) + self.offset_ns
        due = self.start + self.k * self.interval_ns
        self.k += 1
        now = time.time_ns()
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
        elif now - due > LATE_NS:
            self.engine.state.counts["late_publishes"] += 1
        return not self.engine.stopping


class Publisher(Device):
    """Publishes one record per message at `rate` over `channels`, round-robin."""

    def __init__(self, engine: Engine, gid: str, channels: list[str], rate: float, plan: Plan, index: int) -> None:
        super().__init__(engine, gid)
        self.channels, self.rate, self.plan = channels, rate, plan
        self.offset = (index % 97) / 97 / rate if rate else 0.0  # spread publishers over the interval
        self.inflight = 0

    async def run(self) -> None:
        await self.open()
        if self.plan.pub_attach:
            for ch in self.channels:
                await self.attach(ch)
        self.ready()
        await self.engine.wait_go()
        pacer = Pacer(self.engine, self.rate, self.offset)
        i = 0
        while await pacer.next():
            if self.plan.window and self.inflight >= self.plan.window:
                self.engine.state.counts["window_full"] += 1
                continue
            self.send(self.channels[i % len(self.channels)])
            i += 1

    def send(self, channel: str) -> None:
        lg = self.ledger(channel)
        lg.sent += 1
        st = self.engine.state
        st.counts["published"] += 1
        self.inflight += 1
        sent_ns = time.perf_counter_ns()

        def on_ack(_now: int, ok: bool, _res: Any) -> None:
            self.inflight -= 1
            st.observe("ack", (time.perf_counter_ns() - sent_ns) // 1000)
            if ok:
                lg.acked += 1
                st.counts["acked"] += 1
            else:
                lg.nacked += 1
                st.counts["nacked"] += 1
                self.engine.error((_res or {}).get("code", "nack"))

        self.conn.publish(channel, [{"name": "load", "data": record(self.gid, lg.sent, self.plan.size)}], on_ack)


class Listener(Device):
    """Subscribes to `channels` (fanout, sharded, storm subscribers and streaming clients)."""

    def __init__(self, engine: Engine, gid: str, channels: list[str]) -> None:
        super().__init__(engine, gid)
        self.channels = tuple(channels)

    async def run(self) -> None:
        self.subscribe(self.channels)
        await self.open()
        for ch in self.channels:
            await self.attach(ch, F_SUBSCRIBE)
        self.ready()

    async def storm(self) -> None:
        """Drop the socket as a network failure would, then resume at once."""
        st = self.engine.state
        t0 = time.perf_counter_ns()
        self.conn.drop()
        while not self.conn.closed:
            await asyncio.sleep(0.001)
        try:
            resumed = await self.conn.connect(resume=self.conn.connection_key)
        except Exception:
            st.counts["resume_errors"] += 1
            raise
        st.counts["resumed" if resumed else "resume_failed"] += 1
        for ch in self.channels:  # either way the channels re-attach from the last serial seen
            attached = await self.conn.attach(ch, F_SUBSCRIBE, self.conn.channel_serials.get(ch, ""))
            if not attached.get("flags", 0) & F_RESUMED:
                st.counts["attach_not_resumed"] += 1
        st.observe("resume", (time.perf_counter_ns() - t0) // 1000)


class PersonalUser(Publisher):
    """Subscribes to its own channel and publishes to it (delivered back by echo)."""

    def __init__(self, engine: Engine, gid: str, plan: Plan, index: int) -> None:
        super().__init__(engine, gid, [f"{plan.channel}:personal:{gid}"], plan.rate, plan, index)

    async def run(self) -> None:
        self.subscribe(tuple(self.channels))
        await self.open()
        await self.attach(self.channels[0])
        self.ready()
        await self.engine.wait_go()
        pacer = Pacer(self.engine, self.rate, self.offset)
        while await pacer.next():
            self.send(self.channels[0])


class Agent(Publisher):
    """Streams replies into its conversation: a create message, then one append per token
    (or per rollup window); each token's record keeps the time it was produced."""

    async def run(self) -> None:
        await self.open()
        await self.attach(self.channels[0])
        self.ready()
        await self.engine.wait_go()
        channel, plan, st = self.channels[0], self.plan, self.engine.state
        pacer = Pacer(self.engine, self.rate, self.offset)
        while not self.engine.stopping:
            serial = await self._create(channel)
            if serial is None:
                await asyncio.sleep(0.1)
                continue
            pending: list[str] = []
            flushed_at = time.monotonic()
            for _ in range(plan.reply_tokens):
                if not await pacer.next():
                    break
                lg = self.ledger(channel)
                lg.sent += 1
                pending.append(record(self.gid, lg.sent, plan.size))
                if time.monotonic() - flushed_at >= plan.rollup_ms / 1000:
                    self._append(channel, serial, pending)
                    pending, flushed_at = [], time.monotonic()
            if pending:
                self._append(channel, serial, pending)
            st.counts["replies"] += 1

    async def _create(self, channel: str) -> str | None:
        fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def on_ack(_now: int, ok: bool, res: Any) -> None:
            if not fut.done():
                fut.set_result(((res or {}).get("serials") or [None])[0] if ok else None)

        self.conn.publish(channel, [{"name": "reply", "data": ""}], on_ack)
        try:
            async with asyncio.timeout(self.engine.endpoint.timeout):
                return await fut
        except TimeoutError:
            self.engine.error("timeout")
            return None

    def _append(self, channel: str, serial: str, records: list[str]) -> None:
        st = self.engine.state
        lg = self.ledger(channel)
        st.counts["published"] += len(records)
        n = len(records)
        sent_ns = time.perf_counter_ns()
        self.inflight += n

        def on_ack(_now: int, ok: bool, res: Any) -> None:
            self.inflight -= n
            st.observe("ack", (time.perf_counter_ns() - sent_ns) // 1000)
            if ok:
                lg.acked += n
                st.counts["acked"] += n
            else:
                lg.nacked += n
                st.counts["nacked"] += n
                self.engine.error((res or {}).get("code", "nack"))

        self.conn.publish(channel, [{"action": 5, "serial": serial, "data": "".join(records)}], on_ack)


class PresenceMember(Device):
    """Enters the presence set, then leaves and re-enters at `churn` ops/s; observers also
    receive every member's presence events and count them like messages."""

    def __init__(self, engine: Engine, gid: str, plan: Plan, index: int, observer: bool) -> None:
        super().__init__(engine, gid)
        self.plan, self.index, self.observer = plan, index, observer
        self.channel = f"{plan.channel}:presence"

    async def run(self) -> None:
        st = self.engine.state
        if self.observer:
            sub = self.sub = Subscriber()
            st.subscribers.append((sub, (self.channel,)))
            hist, delta = st.hist["deliver"], st.delta["deliver"]

            def on_presence(channel: str, items: list[dict[str, Any]], now: int) -> None:
                for item in items:
                    if item.get("action") not in (P_ENTER, P_LEAVE):
                        continue
                    for t, origin, seq in parse(item.get("data")):
                        if seq == 0:
                            continue  # the initial enter, made before every observer attached
                        us = (now - t) // 1000
                        hist.add(us)
                        delta.add(us)
                        st.counts["presence_events"] += 1
                        sub.see(channel, origin, seq)

            self.conn.on_presence = on_presence
        await self.open()
        flags = F_PRESENCE | F_PUBLISH | (F_PRESENCE_SUBSCRIBE if self.observer else 0)
        t0 = time.perf_counter_ns()
        await self.attach(self.channel, flags)
        await self.conn.wait_sync(self.channel)
        st.observe("sync", (time.perf_counter_ns() - t0) // 1000)
        await self._op(P_ENTER, 0, ledger=False)
        self.ready()
        await self.engine.wait_go()
        pacer = Pacer(self.engine, self.plan.churn, (self.index % 97) / 97 / max(self.plan.churn, 1e-9))
        seq = 0
        while await pacer.next():
            seq += 1
            await self._op(P_LEAVE if seq % 2 else P_ENTER, seq)

    async def _op(self, action: int, seq: int, ledger: bool = True) -> None:
        st = self.engine.state
        lg = self.ledger(self.channel) if ledger else None
        if lg is not None:
            lg.sent += 1
        st.counts["presence_ops"] += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sent_ns = time.perf_counter_ns()

        def on_ack(_now: int, ok: bool, res: Any) -> None:
            st.observe("ack", (time.perf_counter_ns() - sent_ns) // 1000)
            st.counts["acked" if ok else "nacked"] += 1
            if lg is not None:
                if ok:
                    lg.acked += 1
                else:
                    lg.nacked += 1
            if not ok:
                self.engine.error((res or {}).get("code", "nack"))
            if not fut.done():
                fut.set_result(None)

        self.conn.presence(self.channel, action, record(self.gid, seq, self.plan.size), on_ack)
        try:
            async with asyncio.timeout(self.engine.endpoint.timeout):
                await fut
        except TimeoutError:
            self.engine.error("timeout")
