"""AI Transport error codes (the same numbers as @ably/ai-transport's ErrorCode) and the exception carrying them."""

from __future__ import annotations

from enum import IntEnum

from ..errors import AblyError


class ErrorCode(IntEnum):
    BAD_REQUEST = 40000
    INVALID_ARGUMENT = 40003
    OPERATION_CANCELLED = 40033
    INSUFFICIENT_CAPABILITY = 40160
    INTERNAL_ERROR = 50000
    ENCODER_RECOVERY_FAILED = 104000
    SESSION_SUBSCRIPTION_ERROR = 104001
    CANCEL_LISTENER_ERROR = 104002
    RUN_LIFECYCLE_ERROR = 104003
    SESSION_CLOSED = 104004
    SESSION_SEND_FAILED = 104005
    CHANNEL_CONTINUITY_LOST = 104006
    CHANNEL_NOT_READY = 104007
    STREAM_ERROR = 104008
    INPUT_EVENT_NOT_FOUND = 104010
    HISTORY_FETCH_FAILED = 104011


class AitError(AblyError):
    """An AblyError raised by the session layer; `cause` keeps the error it wraps, if any."""

    def __init__(self, code: int, status_code: int, message: str, cause: BaseException | None = None) -> None:
        super().__init__(int(code), status_code, message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


def ably_cause(error: BaseException) -> AblyError | None:
    """The error itself when it is an AblyError (the JS `errorCause`), else None."""
    return error if isinstance(error, AblyError) else None
