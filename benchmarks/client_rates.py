"""How fast the Python client receives and publishes through a real broker.

receive  One Python subscriber; messages decoded and handed to the application (a counting
         listener, or an `async for` stream); the broker coalesces many messages per frame.
         live      publisher processes publish batches flat out (bounded by broker ingest);
         catch-up  the subscriber re-attaches `--channels` channels from cursors before
                   stored backlogs, so the broker replays them as fast as the client reads.
publish  One Python publisher, one message per `publish()`, `--window` publishes in flight
         (pipelined, each resolved by its own ACKed serial). Figure: ACKed messages/s.

Each line also shows the client's messages per CPU-second (its capacity if it had a core to
itself) and how busy the broker was, to tell a client limit from a broker or machine limit.

Everything runs on 127.0.0.1 against a fresh `python -m broker` and is bounded in message
count and time. Run from the repository root:

    .venv/bin/python -m benchmarks.client_rates
    .venv/bin/python -m benchmarks.client_rates --engine sqlite --messages 200000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop

from client import Format, Message, Realtime, RealtimeChannel, Timeouts
from tests.support.broker import BrokerProcess

from .procstat import cpu_seconds

KEY = "bench.root:benchsecretbenchsecret"
DEADLINE = 180.0  # seconds: no single measurement may run longer
TIMEOUTS = Timeouts(request=20.0, publish=60.0)
_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Target:
    port: int
    fmt: str
    broker_pid: int

    def broker_cpu(self) -> float:
        return sum(cpu_seconds(self.broker_pid))


@dataclass(frozen=True)
class Rate:
    """Messages per second of wall time and of client CPU time, and how busy the broker was."""

    wall: float
    cpu: float
    broker_load: float  # broker CPU seconds per wall second (1.0 = one core)

    def __str__(self) -> str:
        return (f"{self.wall:>9,.0f} msg/s | client {self.cpu:>9,.0f} msg per CPU-s"
                f" | broker at {self.broker_load:4.0%} of a core")


class Clock:
    """Wall time, this process's CPU time and the broker's CPU time since `start()`."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._wall = self._cpu = self._broker = 0.0

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self._broker = self._target.broker_cpu()

    def rate(self, count: int) -> Rate:
        wall = time.perf_counter() - self._wall
        return Rate(count / wall, count / (time.process_time() - self._cpu),
                    (self._target.broker_cpu() - self._broker) / wall)


def realtime(target: Target) -> Realtime:
    return Realtime(key=KEY, host="127.0.0.1", port=target.port, tls=False, format=Format(target.fmt),
                    timeouts=TIMEOUTS)


async def publish_batches(target: Target, channel: str, count: int, batch: int, window: int,
                           payload: str) -> float:
    """Publish `count` messages as `batch`-message publishes with `window` in flight; returns msg/s."""
    async with realtime(target) as client:
        ch = client.channels.get(channel)
        messages = [Message(name="m", data=payload) for _ in range(batch)]
        slots = asyncio.Semaphore(window)
        started = time.perf_counter()

        async def one(size: int) -> None:
            try:
                await ch.publish(messages[:size])
            finally:
                slots.release()

        tasks = []
        sizes = [batch] * (count // batch) + ([count % batch] if count % batch else [])
        for size in sizes:
            await slots.acquire()
            tasks.append(asyncio.create_task(one(size)))
        await asyncio.gather(*tasks)
        return count / (time.perf_counter() - started)


def publisher_process(target: Target, channel: str, count: int, batch: int, window: int, payload: str,
                      results: multiprocessing.Queue[float]) -> None:
    results.put(uvloop.run(publish_batches(target, channel, count, batch, window, payload)))


class Counter:
    """A listener that counts messages, timed from the first one to the last."""

    def __init__(self, expected: int, clock: Clock) -> None:
        self.expected = expected
        self.received = 0
        self.done = asyncio.Event()
        self._clock = clock

    def __call__(self, message: Message) -> None:
        if self.received == 0:
            self._clock.start()
        self.received += 1
        if self.received == self.expected:
            self.done.set()

    async def rate(self) -> Rate:
        async with asyncio.timeout(DEADLINE):
            await self.done.wait()
        return self._clock.rate(self.expected)


async def consume(channel: RealtimeChannel, counter: Counter, mode: str) -> asyncio.Task[None] | None:
    """Feed `counter` from a listener, or from an `async for` over `channel.messages()`."""
    if mode == "listener":
        await channel.subscribe(counter)
        return None
    stream = channel.messages()
    await stream.started()

    async def drain() -> None:
        async for message in stream:
            counter(message)
            if counter.done.is_set():
                return

    return asyncio.create_task(drain())


async def measure_live(target: Target, args: argparse.Namespace, payload: str) -> tuple[Rate, float]:
    """One live subscriber while publisher processes publish flat out; also their offered rate."""
    channel = f"bench-live-{time.monotonic_ns()}"
    async with realtime(target) as client:
        counter = Counter(args.messages, Clock(target))
        await consume(client.channels.get(channel), counter, "listener")
        results: multiprocessing.Queue[float] = _SPAWN.Queue()
        procs = [_SPAWN.Process(target=publisher_process,
                                args=(target, channel, count, args.batch, args.publish_window, payload, results))
                 for count in split(args.messages, args.publishers)]
        for proc in procs:
            proc.start()
        try:
            rate = await counter.rate()
            offered = [await asyncio.to_thread(results.get, True, DEADLINE) for _ in procs]
        finally:
            for proc in procs:
                proc.join(DEADLINE)
                if proc.is_alive():
                    proc.kill()
        return rate, sum(offered)


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def measure_catch_up(target: Target, args: argparse.Namespace, payload: str, mode: str) -> Rate:
    """One subscriber re-attaching `--channels` channels from cursors before stored backlogs: the
    broker replays them at once, as fast as the client reads."""
    names = [f"bench-catchup-{mode}-{i}-{time.monotonic_ns()}" for i in range(args.channels)]
    async with realtime(target) as client:
        cursors = {}
        for name in names:
            channel = client.channels.get(name)
            await channel.attach()
            cursors[name] = channel.attach_serial
    await asyncio.gather(*(publish_batches(target, name, count, args.batch, args.publish_window, payload)
                           for name, count in zip(names, split(args.messages, args.channels), strict=True)))
    async with realtime(target) as client:
        counter = Counter(args.messages, Clock(target))
        tasks = []
        for name in names:
            channel = client.channels.get(name)
            channel.channel_serial = cursors[name]  # continue from before the backlog, as after a reconnect
            tasks.append(consume(channel, counter, mode))
        consumers = [task for task in await asyncio.gather(*tasks) if task is not None]
        rate = await counter.rate()
        for consumer in consumers:
            consumer.cancel()
        return rate


async def measure_publish(target: Target, count: int, window: int, payload: str) -> Rate:
    """ACKed messages/s for single-message publishes with `window` in flight."""
    async with realtime(target) as client:
        ch = client.channels.get(f"bench-publish-{time.monotonic_ns()}")
        await ch.publish("warmup", payload)
        slots = asyncio.Semaphore(window)
        serials: list[str | None] = []

        async def one() -> None:
            try:
                serials.extend((await ch.publish("m", payload)).serials)
            finally:
                slots.release()

        clock = Clock(target)
        clock.start()
        async with asyncio.timeout(DEADLINE):
            tasks = []
            for _ in range(count):
                await slots.acquire()
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
        rate = clock.rate(count)
        assert len(serials) == count and all(serials), "every publish must resolve with a serial"
        return rate


async def run(args: argparse.Namespace, target: Target) -> None:
    payload = "x" * args.size
    print(f"broker engine={args.engine} format={args.format} payload={args.size}B messages={args.messages:,}")
    live, offered = await measure_live(target, args, payload)
    print(f"receive, live               {live} (publishers offered {offered:,.0f} msg/s "
          f"in {args.batch}-message publishes)")
    for mode in ("listener", "stream"):
        print(f"receive, catch-up {mode:9} {await measure_catch_up(target, args, payload, mode)} "
              f"({args.channels} channels)")
    rate = await measure_publish(target, args.publishes, args.window, payload)
    print(f"publish, ACKed              {rate} ({args.publishes:,} single-message publishes, "
          f"{args.window} in flight)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--format", choices=["msgpack", "json"], default="msgpack")
    parser.add_argument("--messages", type=int, default=300_000, help="messages for the receive measurement")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes in the live measurement")
    parser.add_argument("--channels", type=int, default=4, help="channels replayed at once in the catch-up")
    parser.add_argument("--batch", type=int, default=100, help="messages per publish in the receive measurement")
    parser.add_argument("--publish-window", type=int, default=20, help="batched publishes in flight per publisher")
    parser.add_argument("--publishes", type=int, default=50_000, help="single-message publishes to ACK")
    parser.add_argument("--window", type=int, default=500, help="single-message publishes in flight")
    parser.add_argument("--size", type=int, default=64, help="payload bytes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(db=Path(tmp) / "bench.db", engine=args.engine, keys=[KEY],
                               extra_args=["--log-level", "warning"]).start()
        try:
            assert broker.proc is not None
            uvloop.run(run(args, Target(broker.port, args.format, broker.proc.pid)))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
