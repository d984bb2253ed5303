"""`recover`: a subscriber process killed (SIGKILL) mid-stream and restarted from its last saved
recovery key gets every message published meanwhile, once and in order, on the same connection;
and the keys are ably-js's: each SDK recovers a connection the other saved."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from client import Realtime
from client.realtime.recovery import RecoveryKey
from tests.support.broker import ROOT, BrokerProcess
from tests.support.node import broker_params, run_scenario

TOTAL = 40
KILL_AFTER = 8
RECOVER_JS = Path(__file__).parent / "js" / "recover.mjs"


class Child:
    """The subscriber process; `lines` are what it handled, as it reported them."""

    def __init__(self, broker: BrokerProcess, channel: str, recover: str | None = None) -> None:
        self.args = [sys.executable, "-m", "tests.client.recover_child", broker.host, str(broker.port), broker.key,
                     channel, *([recover] if recover else [])]
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[dict[str, Any]] = []

    async def start(self) -> Child:
        self.proc = await asyncio.create_subprocess_exec(*self.args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.PIPE)
        await self.until(lambda line: line.get("ready") is True)
        return self

    async def until(self, done: Any, timeout: float = 20.0) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout):
                return await self._read_until(done)
        except TimeoutError:
            raise AssertionError(f"not reached in {timeout}s; the child handled {self.received()}") from None

    async def _read_until(self, done: Any) -> dict[str, Any]:
        """Lines already read count: a recovered child may report the backlog before `ready`."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.lines:
            if done(line):
                return line
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                err = await self.proc.stderr.read() if self.proc.stderr else b""
                raise AssertionError(f"the child ended: {err.decode(errors='replace')[-3000:]}")
            line = json.loads(raw)
            self.lines.append(line)
            if done(line):
                return line

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    def received(self) -> list[Any]:
        return [line["data"]["i"] for line in self.lines if "data" in line]


async def publish_all(broker: BrokerProcess, channel: str, started: asyncio.Event) -> None:
    async with Realtime(key=broker.key, host=broker.host, port=broker.port, tls=False) as publisher:
        target = publisher.channels.get(channel)
        for i in range(1, TOTAL + 1):
            await target.publish("n", {"i": i})
            if i == KILL_AFTER:
                started.set()


async def test_a_killed_subscriber_recovers_its_connection_and_misses_nothing(broker: BrokerProcess) -> None:
    channel = "recover:stream"
    first = await Child(broker, channel).start()
    publishing_started = asyncio.Event()
    publisher = asyncio.ensure_future(publish_all(broker, channel, publishing_started))
    try:
        await first.until(lambda line: line.get("data") == {"i": KILL_AFTER})
        await first.kill()  # mid-stream: the publisher goes on
        saved = first.lines[-1]
        key = RecoveryKey.decode(saved["key"])
        assert key is not None and key.channel_serials.get(channel)
        second = Child(broker, channel, saved["key"])
        await second.start()
        await second.until(lambda line: line.get("data") == {"i": TOTAL})
        await second.kill()
        async with asyncio.timeout(20):
            await publisher
    finally:
        publisher.cancel()
    got = first.received()[:KILL_AFTER] + second.received()
    assert got == list(range(1, TOTAL + 1))
    assert first.received()[:KILL_AFTER] == list(range(1, KILL_AFTER + 1))
    assert {line["connectionId"] for line in first.lines + second.lines} == {saved["connectionId"]}


async def test_a_key_that_does_not_decode_connects_afresh(broker: BrokerProcess) -> None:
    async with Realtime(key=broker.key, host=broker.host, port=broker.port, tls=False, recover="not json") as client:
        assert client.connection.id and client.connection.error_reason is None


async def test_an_unknown_connection_key_gets_a_new_connection_and_the_reason(broker: BrokerProcess) -> None:
    stale = RecoveryKey("abcdef!0123456789abcdef-1", 7, {}).encode()
    async with Realtime(key=broker.key, host=broker.host, port=broker.port, tls=False, recover=stale) as client:
        assert client.connection.id
        assert client.connection.error_reason is not None and client.connection.error_reason.code in (80008, 80018)
        assert client.connection.msg_serial == 0  # a failed recover starts the msgSerial again


@pytest.mark.interop
async def test_ablyjs_recovers_a_connection_the_python_client_saved(broker: BrokerProcess) -> None:
    channel = "recover:py-to-js"
    child = await Child(broker, channel).start()
    publisher = asyncio.ensure_future(publish_all(broker, channel, asyncio.Event()))
    try:
        await child.until(lambda line: line.get("data") == {"i": KILL_AFTER})
        await child.kill()
        saved = child.lines[-1]
        result = await asyncio.to_thread(run_scenario, str(RECOVER_JS), {
            **broker_params(broker), "format": "msgpack", "channel": channel, "recover": saved["key"],
            "until": TOTAL}, brokers=(broker,))
        async with asyncio.timeout(20):
            await publisher
    finally:
        publisher.cancel()
    assert result["errorCode"] is None and result["connectionId"] == saved["connectionId"]
    assert child.received()[:KILL_AFTER] + result["received"] == list(range(1, TOTAL + 1))


@pytest.mark.interop
async def test_the_python_client_recovers_a_connection_ablyjs_saved(broker: BrokerProcess) -> None:
    channel = "recover:js-to-py"
    made = await asyncio.to_thread(run_scenario, str(RECOVER_JS), {
        **broker_params(broker), "format": "msgpack", "channel": channel, "until": KILL_AFTER}, brokers=(broker,))
    key = RecoveryKey.decode(made["recoveryKey"])
    assert made["received"] == list(range(1, KILL_AFTER + 1))
    assert key is not None and key.msg_serial == KILL_AFTER and channel in key.channel_serials
    async with Realtime(key=broker.key, host=broker.host, port=broker.port, tls=False) as publisher:
        for i in range(KILL_AFTER + 1, TOTAL + 1):  # while no process holds the connection
            await publisher.channels.get(channel).publish("n", {"i": i})
    child = Child(broker, channel, made["recoveryKey"])
    await child.start()
    try:
        await child.until(lambda line: line.get("data") == {"i": TOTAL})
    finally:
        await child.kill()
    assert child.received() == list(range(KILL_AFTER + 1, TOTAL + 1))
    assert {line["connectionId"] for line in child.lines} == {made["connectionId"]}
    assert RecoveryKey.decode(child.lines[-1]["key"]).msg_serial == KILL_AFTER  # type: ignore[union-attr]
