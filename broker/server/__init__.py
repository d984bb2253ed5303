"""The edge: one port for HTTP (REST) and WebSocket (realtime), heartbeats, shutdown."""
