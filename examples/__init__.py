"""Runnable examples for the AI session layer (the agent is also used by the session tests and benchmark)."""
