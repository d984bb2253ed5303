"""Action and flag tables of the Ably realtime protocol."""

from enum import IntEnum, IntFlag


class Action(IntEnum):
    HEARTBEAT = 0
    ACK = 1
    NACK = 2
    CONNECT = 3
    CONNECTED = 4
    DISCONNECT = 5
    DISCONNECTED = 6
    CLOSE = 7
    CLOSED = 8
    ERROR = 9
    ATTACH = 10
    ATTACHED = 11
    DETACH = 12
    DETACHED = 13
    PRESENCE = 14
    MESSAGE = 15
    SYNC = 16
    AUTH = 17
    ACTIVATE = 18
    OBJECT = 19
    OBJECT_SYNC = 20
    ANNOTATION = 21


class Flag(IntFlag):
    HAS_PRESENCE = 1 << 0
    HAS_BACKLOG = 1 << 1
    RESUMED = 1 << 2
    TRANSIENT = 1 << 4
    ATTACH_RESUME = 1 << 5
    HAS_OBJECTS = 1 << 7
    PRESENCE = 1 << 16
    PUBLISH = 1 << 17
    SUBSCRIBE = 1 << 18
    PRESENCE_SUBSCRIBE = 1 << 19
    ANNOTATION_PUBLISH = 1 << 21
    ANNOTATION_SUBSCRIBE = 1 << 22
    OBJECT_SUBSCRIBE = 1 << 24
    OBJECT_PUBLISH = 1 << 25


MODE_MASK = 0x3FF0000
DEFAULT_MODES = Flag.PUBLISH | Flag.SUBSCRIBE | Flag.PRESENCE | Flag.PRESENCE_SUBSCRIBE | Flag.ANNOTATION_PUBLISH
MODE_NAMES = {name.lower(): Flag[name] for name in ("PRESENCE", "PUBLISH", "SUBSCRIBE", "PRESENCE_SUBSCRIBE",
                                                      "ANNOTATION_PUBLISH", "ANNOTATION_SUBSCRIBE",
                                                      "OBJECT_SUBSCRIBE", "OBJECT_PUBLISH")}


def parse_modes(text: str) -> int | None:
    """The `modes` channel param (`subscribe,presence`) as mode flags; None if a name is unknown."""
    flags = 0
    for name in text.split(","):
        mode = MODE_NAMES.get(name.strip().lower())
        if mode is None:
            return None
        flags |= mode
    return flags


class MessageAction(IntEnum):
    CREATE = 0
    UPDATE = 1
    DELETE = 2
    META = 3
    SUMMARY = 4
    APPEND = 5


class PresenceAction(IntEnum):
    ABSENT = 0
    PRESENT = 1
    ENTER = 2
    LEAVE = 3
    UPDATE = 4


# Client actions that consume a msgSerial and must be ACKed or NACKed.
ACKED_ACTIONS = frozenset({Action.MESSAGE, Action.PRESENCE, Action.ANNOTATION, Action.OBJECT})
