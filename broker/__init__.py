"""Tether broker: a self-hosted server speaking Ably's realtime and REST protocols."""
