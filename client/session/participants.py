"""Who is in a session: each device enters presence with its own clientId; the agent says if it is working."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..types import PresenceMessage
from .channel import SessionPresence, Unsubscribe


@dataclass(frozen=True, slots=True)
class Participant:
    client_id: str | None
    connection_id: str | None
    role: str  # "user" or "agent"
    device: str | None = None
    status: str | None = None  # an agent's "working" / "idle"


def _participant(message: PresenceMessage) -> Participant:
    data: dict[str, Any] = message.data if isinstance(message.data, dict) else {}
    return Participant(message.client_id, message.connection_id, str(data.get("role", "user")),
                       data.get("device"), data.get("status"))


class Participants:
    """Presence, in session terms: `enter(role, device)`, `set_status`, `list()`, `agent_working()`."""

    def __init__(self, presence: SessionPresence) -> None:
        self._presence = presence
        self._data: dict[str, Any] = {}

    async def enter(self, role: str = "user", device: str | None = None, status: str | None = None) -> None:
        self._data = {k: v for k, v in (("role", role), ("device", device), ("status", status)) if v is not None}
        await self._presence.enter(self._data)

    async def set_status(self, status: str) -> None:
        self._data = {**self._data, "status": status}
        await self._presence.update(self._data)

    async def leave(self) -> None:
        await self._presence.leave(self._data)

    async def list(self) -> list[Participant]:
        return [_participant(m) for m in await self._presence.get()]

    async def agent_working(self) -> bool:
        return any(p.role == "agent" and p.status == "working" for p in await self.list())

    async def subscribe(self, listener: Callable[[Participant, PresenceMessage], None]) -> Unsubscribe:
        """`listener(participant, raw)` for each enter/update/leave."""
        return await self._presence.subscribe(lambda message: listener(_participant(message), message))
