"""Realtime client: connection state machine, channels, presence."""

from .channel import Channels, RealtimeChannel
from .client import Realtime
from .connection import Connection
from .presence import RealtimePresence

__all__ = ["Channels", "Connection", "Realtime", "RealtimeChannel", "RealtimePresence"]
