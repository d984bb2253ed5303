"""Channels: ordered fan-out and attach points over the engine's committed log."""
