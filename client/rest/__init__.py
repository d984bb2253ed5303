"""REST client: Ably's HTTP API (time, tokens, publish, history, presence, message versions)."""

from .channel import RestChannel, RestChannels, RestPresence
from .client import Rest

__all__ = ["Rest", "RestChannel", "RestChannels", "RestPresence"]
