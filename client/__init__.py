"""Tether's Python client for the Ably protocol: `Realtime` and `Rest`, typed and asyncio-native.

    from client import Realtime

    async with Realtime(key=KEY, host="127.0.0.1", port=8080, tls=False) as client:
        channel = client.channels.get("chat", params={"rewind": "10"})
        async with channel.messages() as messages:      # attaches; ends on detach/close
            result = await channel.publish("greeting", {"text": "hi"})
            print(result.serials)                       # resolved by the ACK
            async for message in messages:
                print(message.name, message.data)

Lifetimes are `async with` blocks; every wait is bounded by `Timeouts`; failures raise
`AblyError(code, status_code, message)`. The connection reconnects and resumes by itself
(`client.connection.state_changes()` shows it), and re-attaches channels from their cursor.
"""

from .annotations import Annotation, AnnotationAction, RealtimeAnnotations, RestAnnotations
from .errors import AblyError
from .events import EventStream
from .options import ClientOptions, Timeouts
from .realtime import Channels, Connection, Realtime, RealtimeChannel, RealtimePresence
from .rest import Rest, RestChannel, RestPresence
from .types import (
    ChannelEvent,
    ChannelState,
    ChannelStateChange,
    ConnectionDetails,
    ConnectionEvent,
    ConnectionState,
    ConnectionStateChange,
    Data,
    Message,
    MessageAction,
    MessageOperation,
    MessageVersion,
    PaginatedResult,
    PresenceAction,
    PresenceMessage,
    PublishResult,
    TokenDetails,
    TokenParams,
    TokenRequest,
    UpdateDeleteResult,
)
from .wire import ChannelMode, Format

__all__ = [
    "AblyError", "Annotation", "AnnotationAction", "RealtimeAnnotations", "RestAnnotations", "ChannelEvent", "ChannelMode", "ChannelState", "ChannelStateChange", "Channels", "ClientOptions",
    "Connection", "ConnectionDetails", "ConnectionEvent", "ConnectionState", "ConnectionStateChange", "Data",
    "EventStream", "Format", "Message", "MessageAction", "MessageOperation", "MessageVersion", "PaginatedResult",
    "PresenceAction", "PresenceMessage", "PublishResult", "Realtime", "RealtimeChannel", "RealtimePresence", "Rest",
    "RestChannel", "RestPresence", "Timeouts", "TokenDetails", "TokenParams", "TokenRequest", "UpdateDeleteResult",
]
