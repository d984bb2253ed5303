"""Test-side wire helpers: a ChannelWriter that records what an encoder publishes (as the JS golden
script's writer does), and the conversion of such a log into what subscribers would receive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from client import AblyError, Message, MessageAction, MessageVersion, PublishResult, UpdateDeleteResult

ACTIONS = {"message.create": MessageAction.CREATE, "message.update": MessageAction.UPDATE,
           "message.delete": MessageAction.DELETE, "message.append": MessageAction.APPEND}


def outbound(msg: Message) -> dict[str, Any]:
    """An outbound message as JSON, the way ably-js would see the encoder's object literal."""
    out: dict[str, Any] = {}
    for key, value in (("serial", msg.serial), ("name", msg.name), ("data", msg.data), ("extras", msg.extras)):
        if value is not None:
            out[key] = value
    return out


class RecordingWriter:
    """Records publishes/appends/updates; serials s0001… in call order; appends whose data is in
    `fail_appends` are refused (to exercise recovery)."""

    def __init__(self, fail_appends: Sequence[str] = ()) -> None:
        self.log: list[dict[str, Any]] = []
        self._fail = set(fail_appends)
        self._n = 0

    def _next(self) -> str:
        self._n += 1
        return f"s{self._n:04d}"

    async def publish(self, messages: Message | Sequence[Message]) -> PublishResult:
        batch = [messages] if isinstance(messages, Message) else list(messages)
        self.log.append({"op": "publish", "messages": [outbound(m) for m in batch]})
        return PublishResult([self._next() for _ in batch])

    async def append_message(self, message: Message) -> UpdateDeleteResult:
        self.log.append({"op": "append", "message": outbound(message)})
        if message.data in self._fail:
            raise AblyError(50000, 500, "append refused")
        return UpdateDeleteResult(self._next())

    async def update_message(self, message: Message) -> UpdateDeleteResult:
        self.log.append({"op": "update", "message": outbound(message)})
        return UpdateDeleteResult(self._next())


class SerialClock:
    """Channel serials for built deliveries: lexicographic, increasing."""

    def __init__(self, start: int = 0) -> None:
        self._n = start

    def next(self) -> str:
        self._n += 1
        return f"s{self._n:04d}"


def deliveries(log: list[dict[str, Any]], fail_appends: Sequence[str] = (), client_id: str = "agent",
               timestamp: int = 1_700_000_000_000, clock: SerialClock | None = None) -> list[dict[str, Any]]:
    """What a subscriber receives for a recorded log: creates with their serials, appends as
    `message.append` (no name, fragment data) and updates, each with its version serial.
    The writer's own serials (s0001…) are mapped onto `clock`'s when one is given."""
    local = SerialClock()
    channel = clock or SerialClock()
    mapped: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for entry in log:
        if entry["op"] == "publish":
            for m in entry["messages"]:
                serial = mapped[local.next()] = channel.next()
                out.append({**m, "action": "message.create", "serial": serial, "version": {"serial": serial},
                            "clientId": client_id, "timestamp": timestamp})
        else:
            m = entry["message"]
            if entry["op"] == "append" and m.get("data") in fail_appends:
                continue
            local.next()
            action = "message.append" if entry["op"] == "append" else "message.update"
            out.append({**m, "serial": mapped.get(m["serial"], m["serial"]), "action": action,
                        "version": {"serial": channel.next()}, "clientId": client_id, "timestamp": timestamp})
    return out


def inbound(d: dict[str, Any]) -> Message:
    """A delivery dict as a received client Message."""
    version = d.get("version") or {}
    return Message(name=d.get("name"), data=d.get("data"), extras=d.get("extras"), client_id=d.get("clientId"),
                   timestamp=d.get("timestamp"), action=ACTIONS[d.get("action", "message.create")],
                   serial=d.get("serial"), version=MessageVersion(serial=version.get("serial")) if version else None)
