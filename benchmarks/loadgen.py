"""Load-generator processes: N subscribers and one publisher speaking just enough Ably protocol.

Each process runs its own uvloop and talks to the coordinator over a multiprocessing pipe:
subscribers report ("ready") once every connection is ATTACHED, then wait for ("expect", n)
and report when every subscriber has n messages (or delivery stalls); the publisher
reports ("ready"), waits for ("go", PubRun) and reports ("done") once every publish is
ACKed or NACKed. Both then wait for ("close").

Verification is split to keep the generator cheap: every `sample_every`-th subscriber
decodes every frame fully (exact loss / duplicate / reorder check per seq and latency);
the others only read the length of the frame's `messages` array from its msgpack header
(`tally.count_messages`), which is enough to detect loss and duplicates in aggregate.
Sampled subscribers compute both, so a header count that disagrees with the decoded
count would be reported.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import quote

import msgpack
import uvloop

from broker.protocol.actions import Action

from .tally import LatencyHistogram, SeqCheck, count_messages, message_name, parse_name
from .wsclient import WsClient, client_frame

_MESSAGE = int(Action.MESSAGE)
_ACK = int(Action.ACK)
_NACK = int(Action.NACK)
_CONNECTED = int(Action.CONNECTED)
_ATTACHED = int(Action.ATTACHED)
_HEARTBEAT = int(Action.HEARTBEAT)
_FATAL = {int(Action.ERROR), int(Action.DISCONNECTED), int(Action.DETACHED), int(Action.CLOSED)}
_MAX_ERRORS = 5


def connect_path(key: str, echo: bool = True) -> str:
    path = f"/?key={quote(key, safe='')}&format=msgpack&v=6"
    return path if echo else path + "&echo=false"


@dataclass(frozen=True)
class Target:
    """Where and how to connect."""

    host: str
    port: int
    key: str
    channel: str
    handshake_timeout: float = 30.0


class AblyConn(WsClient):
    """CONNECTED / ATTACH / ATTACHED, shared by subscribers and the publisher."""

    def __init__(self, target: Target, echo: bool = True) -> None:
        super().__init__(target.host, target.port, connect_path(target.key, echo))
        loop = asyncio.get_running_loop()
        self.target = target
        self.connected: asyncio.Future[None] = loop.create_future()
        self.attached: asyncio.Future[None] = loop.create_future()
        self.errors: list[str] = []
        self.closed_by_peer = False

    async def attach(self) -> None:
        await self.opened
        await self.connected
        self.write(client_frame(msgpack.packb({"action": int(Action.ATTACH), "channel": self.target.channel})))
        await self.attached

    def on_control(self, pm: dict[str, Any]) -> None:
        action = pm.get("action")
        if action == _CONNECTED and not self.connected.done():
            self.connected.set_result(None)
        elif action == _ATTACHED and not self.attached.done():
            self.attached.set_result(None)
        elif action == _HEARTBEAT:
            return
        elif action in _FATAL:
            self.errors.append(f"action {action}: {pm.get('error')}")
            failure = ConnectionError(self.errors[-1])
            for fut in (self.connected, self.attached):
                if not fut.done():
                    fut.set_exception(failure)

    def on_closed(self) -> None:
        self.closed_by_peer = True
        failure = ConnectionError(f"socket closed (code {self.close_code})")
        for fut in (self.connected, self.attached):
            if not fut.done():
                fut.set_exception(failure)


class WorkerTally:
    """Per-process state the subscribers share: the expected count and who has reached it."""

    def __init__(self) -> None:
        self.target = 1 << 62
        self.remaining = 0
        self.reached = asyncio.Event()
        self.latency = LatencyHistogram()

    def expect(self, target: int, subs: list[Subscriber]) -> None:
        self.target = target
        self.remaining = 0
        for sub in subs:
            sub.done = sub.count >= target
            self.remaining += not sub.done
        if not self.remaining:
            self.reached.set()

    def one_reached(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.reached.set()


class Subscriber(AblyConn):
    """Counts delivered messages; a sampled one also checks every seq and latency."""

    def __init__(self, target: Target, tally: WorkerTally, sampled: bool) -> None:
        super().__init__(target)
        self.tally = tally
        self.sampled = sampled
        self.seq = SeqCheck() if sampled else None
        self.live = False
        self.done = False
        self.count = 0
        self.header_count = 0
        self.frames = 0
        self.first_ns = 0
        self.last_ns = 0

    async def attach(self) -> None:
        await super().attach()
        self.live = True

    def on_message(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        if self.live and self.seq is None:
            n = count_messages(data, start, end)
            if n > 0:
                self._counted(n, now_ns)
                return
        pm = msgpack.unpackb(memoryview(data)[start:end])
        if pm.get("action") != _MESSAGE:
            self.on_control(pm)
            return
        messages = pm.get("messages") or ()
        if self.seq is not None:
            self.header_count += count_messages(data, start, end)
            latency = self.tally.latency
            for m in messages:
                seq, sent_ns = parse_name(m["name"])
                self.seq.add(seq)
                latency.add(now_ns - sent_ns)
        self._counted(len(messages), now_ns)

    def _counted(self, n: int, now_ns: int) -> None:
        self.count += n
        self.frames += 1
        if not self.first_ns:
            self.first_ns = now_ns
        self.last_ns = now_ns
        if not self.done and self.count >= self.tally.target:
            self.done = True
            self.tally.one_reached()


@dataclass(frozen=True)
class SubSpec:
    target: Target
    count: int
    first_index: int
    sample_every: int
    connect_concurrency: int = 100


@dataclass(frozen=True)
class PubRun:
    """What the publisher does after "go": window > 0 keeps that many publishes in flight;
    rate > 0 paces publishes at that many per second (window then only caps the backlog)."""

    duration: float
    window: int = 1
    rate: float = 0.0
    max_messages: int = 1 << 62
    payload_size: int = 16
    ack_timeout: float = 30.0


class Publisher(AblyConn):
    """One message per ProtocolMessage; `msgSerial` doubles as the message's seq."""

    def __init__(self, target: Target) -> None:
        super().__init__(target, echo=False)
        self.sent_ns: collections.deque[int] = collections.deque()
        self.next_serial = 0
        self.acked = 0
        self.nacked = 0
        self.ack_frames = 0
        self.unexpected_messages = 0
        self.ack_latency = LatencyHistogram()
        self.window_blocked = 0
        self.run: PubRun | None = None
        self.deadline_ns = 0
        self.sending = False
        self.stop_ns = 0
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._payload = ""

    def on_message(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        pm = msgpack.unpackb(memoryview(data)[start:end])
        action = pm.get("action")
        if action == _ACK or action == _NACK:
            self.ack_frames += 1
            count = int(pm.get("count", 1))
            for _ in range(count):
                self.ack_latency.add(now_ns - self.sent_ns.popleft())
            if action == _ACK:
                self.acked += count
            else:
                self.nacked += count
                if len(self.errors) < _MAX_ERRORS:
                    self.errors.append(f"NACK: {pm.get('error')}")
            if self.run is not None and self.run.rate <= 0:
                self._top_up()
            self._maybe_finish()
        elif action == _MESSAGE:
            self.unexpected_messages += 1
        else:
            self.on_control(pm)

    def on_closed(self) -> None:
        super().on_closed()
        if not self.finished.done():
            self.finished.set_exception(ConnectionError(f"publisher socket closed (code {self.close_code})"))

    def _publish_frame(self, now_ns: int) -> bytes:
        serial = self.next_serial
        self.next_serial += 1
        self.sent_ns.append(now_ns)
        pm = {"action": _MESSAGE, "channel": self.target.channel, "msgSerial": serial,
              "messages": [{"name": message_name(serial, now_ns), "data": self._payload}]}
        return client_frame(msgpack.packb(pm))

    def _may_send(self, now_ns: int) -> bool:
        assert self.run is not None
        return self.sending and now_ns < self.deadline_ns and self.next_serial < self.run.max_messages

    def _top_up(self) -> None:
        assert self.run is not None
        now = time.monotonic_ns()
        frames = []
        while self._may_send(now) and len(self.sent_ns) < self.run.window:
            frames.append(self._publish_frame(now))
        if frames:
            self.write(b"".join(frames))
        elif not self._may_send(now):
            self._stop_sending()

    def _stop_sending(self) -> None:
        if self.sending:
            self.sending = False
            self.stop_ns = time.monotonic_ns()

    def _maybe_finish(self) -> None:
        if not self.sending and not self.sent_ns and not self.finished.done():
            self.finished.set_result(None)

    async def publish(self, run: PubRun) -> dict[str, Any]:
        self.run = run
        self._payload = "x" * run.payload_size
        start = time.monotonic_ns()
        self.deadline_ns = start + int(run.duration * 1e9)
        self.sending = True
        if run.rate > 0:
            await self._paced(run, start)
        else:
            self._top_up()
        self._maybe_finish()
        try:
            await asyncio.wait_for(asyncio.shield(self.finished), run.ack_timeout)
        except (TimeoutError, ConnectionError) as exc:
            self.errors.append(f"publisher did not finish: {exc!r}")
        return {"sent": self.next_serial, "acked": self.acked, "nacked": self.nacked,
                "unacked": len(self.sent_ns), "start_ns": start, "end_send_ns": self.stop_ns or time.monotonic_ns(),
                "end_ns": time.monotonic_ns(), "ack_latency": self.ack_latency,
                "window_blocked": self.window_blocked, "ack_frames": self.ack_frames, "unexpected_messages": self.unexpected_messages,
                "errors": self.errors[:_MAX_ERRORS]}

    async def _paced(self, run: PubRun, start: int) -> None:
        interval_ns = 1e9 / run.rate
        while True:
            now = time.monotonic_ns()
            if not self._may_send(now):
                break
            due = int((now - start) / interval_ns) + 1
            frames = []
            while self.next_serial < due and self.next_serial < run.max_messages:
                if len(self.sent_ns) >= run.window:
                    self.window_blocked += 1
                    break
                frames.append(self._publish_frame(now))
            if frames:
                self.write(b"".join(frames))
            wake = start + self.next_serial * interval_ns
            # uvloop timers tick in whole milliseconds: a shorter sleep would spin, so a
            # faster rate is sent as a burst per tick (each message stamped when written).
            await asyncio.sleep(max(0.001, (wake - time.monotonic_ns()) / 1e9))
        self._stop_sending()


async def _recv(conn: Connection) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, conn.recv)


async def _connect_all(conns: Sequence[AblyConn], concurrency: int, timeout: float) -> tuple[int, dict[str, int]]:
    """Connect and attach everything, `concurrency` handshakes at a time: (attached, failures by reason)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    failures: collections.Counter[str] = collections.Counter()

    async def one(c: AblyConn) -> None:
        async with gate:
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: c, c.target.host, c.target.port), timeout)
                await asyncio.wait_for(c.attach(), timeout)
            except (TimeoutError, OSError, ConnectionError) as exc:
                failures[repr(exc)] += 1
                c.abort()

    await asyncio.gather(*(one(c) for c in conns))
    return len(conns) - failures.total(), dict(failures)


async def _close_all(conns: Sequence[AblyConn]) -> None:
    for c in conns:
        c.close()
    pending = [c.closed for c in conns if c.transport is not None]
    if pending:
        await asyncio.wait(pending, timeout=5.0)


async def _await_delivery(tally: WorkerTally, subs: list[Subscriber], stall: float) -> None:
    """Return once every subscriber has the expected count, or no delivery happened for `stall` s."""
    last_total, last_change = -1, time.monotonic()
    while not tally.reached.is_set():
        try:
            await asyncio.wait_for(tally.reached.wait(), 0.25)
        except TimeoutError:
            total = sum(s.count for s in subs)
            if total != last_total:
                last_total, last_change = total, time.monotonic()
            elif time.monotonic() - last_change > stall:
                return


def _subscriber_report(subs: list[Subscriber], tally: WorkerTally, expected: int, connected: int) -> dict[str, Any]:
    sampled = [s for s in subs if s.seq is not None]
    live = [s for s in subs if s.live]
    firsts = [s.first_ns for s in live if s.first_ns]
    errors = [e for s in subs for e in s.errors]
    return {
        "subs": len(subs), "connected": connected, "sampled": len(sampled),
        "received": sum(s.count for s in live), "frames": sum(s.frames for s in live),
        "lost": sum(max(0, expected - s.count) for s in live),
        "extra": sum(max(0, s.count - expected) for s in live),
        "seq_dups": sum(s.seq.dups for s in sampled if s.seq),
        "seq_reorders": sum(s.seq.reorders for s in sampled if s.seq),
        "seq_missing": sum(s.seq.missing(expected) for s in sampled if s.seq and s.live),
        "count_mismatch": sum(1 for s in sampled if s.header_count != s.count),
        "closed_early": sum(1 for s in live if s.closed_by_peer),
        "first_ns": min(firsts) if firsts else 0,
        "last_ns": max((s.last_ns for s in live), default=0),
        "latency": tally.latency, "errors": len(errors), "error_sample": errors[:_MAX_ERRORS],
    }


async def _subscriber_main(conn: Connection, spec: SubSpec) -> None:
    tally = WorkerTally()
    subs = [Subscriber(spec.target, tally, (spec.first_index + i) % spec.sample_every == 0)
            for i in range(spec.count)]
    t0 = time.monotonic()
    connected, failures = await _connect_all(subs, spec.connect_concurrency, spec.target.handshake_timeout)
    conn.send(("ready", {"connected": connected, "failures": failures, "seconds": time.monotonic() - t0}))
    command = await _recv(conn)
    if command[0] == "expect":
        _, expected, stall = command
        tally.expect(expected, [s for s in subs if s.live])
        await _await_delivery(tally, subs, stall)
        conn.send(("report", _subscriber_report(subs, tally, expected, connected)))
        command = await _recv(conn)
    await _close_all(subs)


async def _publisher_main(conn: Connection, target: Target) -> None:
    pub = Publisher(target)
    connected, failures = await _connect_all([pub], 1, target.handshake_timeout)
    conn.send(("ready", {"connected": connected, "failures": failures}))
    command = await _recv(conn)
    if command[0] == "go" and connected:
        conn.send(("done", await pub.publish(command[1])))
        command = await _recv(conn)
    await _close_all([pub])


def subscriber_process(conn: Connection, spec: SubSpec) -> None:
    uvloop.run(_subscriber_main(conn, spec))


def publisher_process(conn: Connection, target: Target) -> None:
    uvloop.run(_publisher_main(conn, target))


@dataclass
class Collected:
    """Subscriber reports merged across worker processes."""

    reports: list[dict[str, Any]] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(int(r[key]) for r in self.reports)

    def latency(self) -> LatencyHistogram:
        merged = LatencyHistogram()
        for r in self.reports:
            merged.merge(r["latency"])
        return merged
