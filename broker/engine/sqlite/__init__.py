"""The SQLite engine, by job: schema and row codec, group-commit writer, queries, retention."""

from .engine import CACHE_LIMIT, FOLD_EVERY, SqliteEngine
from .writer import INLINE_AFTER_IDLE

__all__ = ["CACHE_LIMIT", "FOLD_EVERY", "INLINE_AFTER_IDLE", "SqliteEngine"]
