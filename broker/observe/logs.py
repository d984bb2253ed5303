"""Log output: the classic text line, or one JSON object per line for log shippers.

Log calls that concern a connection or channel pass `extra={"connection_id": ..., "channel": ...}`;
the JSON format turns those into `connectionId` / `channel` fields (the text line already
names them in its message).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_FIELDS = {"connection_id": "connectionId", "channel": "channel"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ["connectionId"], ["channel"], ["exc"]}` per record."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for attr, name in _FIELDS.items():
            value = getattr(record, attr, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: str = "text") -> None:
    """Root logging to stderr in `fmt` (text or json) at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
