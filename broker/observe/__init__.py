"""Observability: the broker's counters, Prometheus exposition, Ably-shaped stats and log formats.

A leaf like `protocol`: it imports nothing of ours, so every layer may count into it.
"""
