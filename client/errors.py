"""Typed Ably errors: every failure the library reports carries a code, an HTTP status and a message."""

from __future__ import annotations

from typing import Any


class AblyError(Exception):
    """An Ably error, from the server (ERROR, NACK, HTTP) or raised by the client itself."""

    def __init__(self, code: int, status_code: int, message: str, *, href: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code
        self.message = message
        self.href = href or f"https://help.ably.io/error/{code}"

    @classmethod
    def from_wire(cls, obj: Any, default_code: int = 50000, default_status: int = 500) -> AblyError:
        """Read an ErrorInfo object, tolerating missing or odd fields so nothing is lost."""
        if not isinstance(obj, dict):
            return cls(default_code, default_status, f"Unrecognised error {obj!r}")
        code = obj.get("code")
        status = obj.get("statusCode")
        message = obj.get("message") or obj.get("reason") or "Unknown error"
        return cls(
            int(code) if isinstance(code, (int, float)) else default_code,
            int(status) if isinstance(status, (int, float)) else default_status,
            str(message),
            href=obj.get("href") if isinstance(obj.get("href"), str) else None,
        )

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "statusCode": self.status_code, "message": self.message}

    @property
    def is_token_error(self) -> bool:
        """Token errors (40140-40149) are renewable: fetch a new token and retry."""
        return 40140 <= self.code < 40150

    def __repr__(self) -> str:
        return f"AblyError({self.code}, {self.status_code}, {self.message!r})"

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


def timed_out(what: str, seconds: float, code: int = 50003, status_code: int = 504) -> AblyError:
    return AblyError(code, status_code, f"Timed out after {seconds:g}s waiting for {what}")


def disconnected(message: str = "Connection to server lost") -> AblyError:
    return AblyError(80003, 503, message)


def connection_closed() -> AblyError:
    return AblyError(80017, 400, "Connection closed")


def connection_suspended() -> AblyError:
    return AblyError(80002, 503, "Connection suspended")

