"""Ably errors: a code, an HTTP status and a message, as the SDKs read them."""

from __future__ import annotations

from typing import Any


class AblyError(Exception):
    """An error with an Ably code; raised anywhere, rendered on the wire by the edge."""

    def __init__(self, code: int, status_code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code
        self.message = message

    def to_wire(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "statusCode": self.status_code,
            "message": self.message,
            "href": f"https://help.ably.io/error/{self.code}",
        }

    @property
    def is_token_error(self) -> bool:
        return 40140 <= self.code < 40150

    def __repr__(self) -> str:
        return f"AblyError({self.code}, {self.status_code}, {self.message!r})"


def bad_request(message: str, code: int = 40000) -> AblyError:
    return AblyError(code, 400, message)


def invalid_param(message: str) -> AblyError:
    return AblyError(40003, 400, message)


def invalid_channel(message: str) -> AblyError:
    return AblyError(40010, 400, message)


def too_large(size: int, limit: int) -> AblyError:
    return AblyError(40009, 413, f"Maximum message size exceeded (size {size} > limit {limit})")


def not_found(message: str = "Not found") -> AblyError:
    return AblyError(40400, 404, message)


def capability_denied(message: str) -> AblyError:
    return AblyError(40160, 401, message)


def internal(message: str = "Internal error") -> AblyError:
    return AblyError(50000, 500, message)
