"""The session fixtures (realtime clients, devices) for the LLM adapter tests."""

from tests.session.conftest import device, realtime

__all__ = ["device", "realtime"]
