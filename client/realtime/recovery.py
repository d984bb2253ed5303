"""Recovery keys: a connection's identity saved so another process can take it over (`recover`).

The format is ably-js's `connection.createRecoveryKey()`: JSON {connectionKey, msgSerial,
channelSerials: {name: channelSerial}}; the connect request sends `recover=<connectionKey>`, the
next publish continues from msgSerial, and each channel attaches from its saved channelSerial, so
the messages published while no process held the connection arrive on attach, once and in order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RecoveryKey:
    connection_key: str
    msg_serial: int = 0
    channel_serials: dict[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps({"connectionKey": self.connection_key, "msgSerial": self.msg_serial,
                           "channelSerials": self.channel_serials}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> RecoveryKey | None:
        """None for a key that is not one (ably-js then connects afresh, as we do)."""
        try:
            raw = json.loads(text)
        except ValueError:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("connectionKey"), str):
            return None
        serial = raw.get("msgSerial")
        channels = raw.get("channelSerials")
        return cls(raw["connectionKey"], serial if isinstance(serial, int) and serial >= 0 else 0,
                   {k: v for k, v in channels.items() if isinstance(v, str)} if isinstance(channels, dict) else {})
