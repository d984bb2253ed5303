"""Public value types: messages, presence, states and their changes, tokens, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from broker.protocol.actions import MessageAction, PresenceAction

from .errors import AblyError

Data = str | bytes | dict[str, Any] | list[Any] | None
"""Payload types: text, binary, or JSON objects/arrays (sent with the `json` encoding)."""

T = TypeVar("T")


class ConnectionState(StrEnum):
    INITIALIZED = "initialized"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SUSPENDED = "suspended"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"


class ConnectionEvent(StrEnum):
    """A state name, or `update` for a change of details without a change of state."""

    INITIALIZED = "initialized"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SUSPENDED = "suspended"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"
    UPDATE = "update"


class ChannelState(StrEnum):
    INITIALIZED = "initialized"
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    DETACHED = "detached"
    SUSPENDED = "suspended"
    FAILED = "failed"


class ChannelEvent(StrEnum):
    INITIALIZED = "initialized"
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    DETACHED = "detached"
    SUSPENDED = "suspended"
    FAILED = "failed"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class ConnectionStateChange:
    previous: ConnectionState
    current: ConnectionState
    event: ConnectionEvent
    reason: AblyError | None = None
    retry_in: float | None = None  # seconds until the next connection attempt, when one is scheduled


@dataclass(frozen=True, slots=True)
class ChannelStateChange:
    previous: ChannelState
    current: ChannelState
    event: ChannelEvent
    reason: AblyError | None = None
    resumed: bool = False  # an ATTACHED that continued the previous attachment without a gap
    has_backlog: bool = False


@dataclass(slots=True)
class MessageVersion:
    """The version a message is at: serial and time of the latest operation, and who did it."""

    serial: str | None = None
    timestamp: int | None = None
    client_id: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(slots=True)
class MessageOperation:
    """Metadata a caller attaches to an update, delete or append."""

    client_id: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(slots=True)
class Message:
    name: str | None = None
    data: Data = None
    id: str | None = None
    client_id: str | None = None
    connection_id: str | None = None
    timestamp: int | None = None
    encoding: str | None = None  # transforms the client could not undo (e.g. an unknown cipher)
    extras: dict[str, Any] | None = None
    action: MessageAction = MessageAction.CREATE
    serial: str | None = None
    version: MessageVersion | None = None
    annotations: dict[str, Any] | None = None


@dataclass(slots=True)
class PresenceMessage:
    action: PresenceAction = PresenceAction.PRESENT
    client_id: str | None = None
    connection_id: str | None = None
    data: Data = None
    id: str | None = None
    timestamp: int | None = None
    encoding: str | None = None
    extras: dict[str, Any] | None = None

    @property
    def member_key(self) -> str:
        """One member per clientId per connection."""
        return f"{self.client_id}:{self.connection_id}"


@dataclass(frozen=True, slots=True)
class PublishResult:
    """One serial per published message, in order (None for a message the server conflated)."""

    serials: list[str | None]


@dataclass(frozen=True, slots=True)
class UpdateDeleteResult:
    """The serial of the version an update, delete or append created."""

    version_serial: str | None


@dataclass(slots=True)
class TokenParams:
    ttl: int | None = None  # milliseconds
    capability: dict[str, list[str]] | str | None = None
    client_id: str | None = None
    timestamp: int | None = None  # milliseconds since the epoch
    nonce: str | None = None


@dataclass(slots=True)
class TokenRequest:
    """A signed request for a token, exchanged at `/keys/{key_name}/requestToken`."""

    key_name: str
    timestamp: int
    nonce: str
    mac: str
    ttl: int | None = None
    capability: str | None = None
    client_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"keyName": self.key_name, "timestamp": self.timestamp,
                               "nonce": self.nonce, "mac": self.mac}
        if self.ttl is not None:
            out["ttl"] = self.ttl
        if self.capability is not None:
            out["capability"] = self.capability
        if self.client_id is not None:
            out["clientId"] = self.client_id
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> TokenRequest:
        ttl = obj.get("ttl")
        return cls(key_name=str(obj["keyName"]), timestamp=int(obj["timestamp"]), nonce=str(obj["nonce"]),
                   mac=str(obj["mac"]), ttl=int(ttl) if ttl is not None and ttl != "" else None,
                   capability=obj.get("capability"), client_id=obj.get("clientId"))


@dataclass(slots=True)
class TokenDetails:
    token: str
    expires: int | None = None  # milliseconds since the epoch
    issued: int | None = None
    capability: str | None = None
    client_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"token": self.token}
        for key, value in (("expires", self.expires), ("issued", self.issued),
                           ("capability", self.capability), ("clientId", self.client_id)):
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> TokenDetails:
        def num(value: Any) -> int | None:
            return int(value) if isinstance(value, (int, float)) else None

        capability = obj.get("capability")
        return cls(token=str(obj["token"]), expires=num(obj.get("expires")), issued=num(obj.get("issued")),
                   capability=capability if isinstance(capability, str) or capability is None
                   else str(capability), client_id=obj.get("clientId"))


@dataclass(frozen=True, slots=True)
class ConnectionDetails:
    """What the server told us on CONNECTED; durations in seconds."""

    connection_key: str
    client_id: str | None = None
    max_message_size: int | None = None
    max_frame_size: int | None = None
    max_inbound_rate: int | None = None
    connection_state_ttl: float | None = None
    max_idle_interval: float | None = None
    server_id: str | None = None

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> ConnectionDetails:
        def num(key: str) -> int | None:
            value = obj.get(key)
            return int(value) if isinstance(value, (int, float)) else None

        def seconds(key: str) -> float | None:
            value = num(key)
            return value / 1000 if value is not None else None

        return cls(connection_key=str(obj.get("connectionKey") or ""), client_id=obj.get("clientId"),
                   max_message_size=num("maxMessageSize"), max_frame_size=num("maxFrameSize"),
                   max_inbound_rate=num("maxInboundRate"), connection_state_ttl=seconds("connectionStateTtl"),
                   max_idle_interval=seconds("maxIdleInterval"), server_id=obj.get("serverId"))


@dataclass(slots=True)
class PaginatedResult(Generic[T]):
    """One page of a paginated REST resource; `next()` fetches the following page."""

    items: list[T]
    _fetch: Callable[[str], Awaitable[PaginatedResult[T]]] = field(repr=False)
    _links: dict[str, str] = field(default_factory=dict, repr=False)

    def has_next(self) -> bool:
        return "next" in self._links

    def is_last(self) -> bool:
        return not self.has_next()

    async def next(self) -> PaginatedResult[T] | None:
        """The next page, or None after the last one."""
        if "next" not in self._links:
            return None
        return await self._fetch(self._links["next"])

    async def first(self) -> PaginatedResult[T]:
        return await self._fetch(self._links["first"]) if "first" in self._links else self

    async def all(self) -> AsyncIterator[T]:
        """Every item from this page onwards, fetching pages as needed."""
        page: PaginatedResult[T] | None = self
        while page is not None:
            for item in page.items:
                yield item
            page = await page.next()
