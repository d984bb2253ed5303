"""The storage and pub/sub seam: every engine passes tests/engine_contract."""

from .base import Engine, HistoryQuery, Publication

__all__ = ["Engine", "HistoryQuery", "Publication"]
