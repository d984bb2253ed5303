"""The storage and pub/sub seam: every engine passes tests/engine/test_contract.py."""

from .base import Engine, HistoryQuery, Publication

__all__ = ["Engine", "HistoryQuery", "Publication"]
