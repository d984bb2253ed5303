"""What an agent can plug into a run (JS `RunHooks`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ...errors import AblyError
from ...types import Message
from ..signals import AbortSignal
from ..types import CancelRequest
from .pipe import OnCancelled


@dataclass(slots=True)
class RunHooks:
    """`on_cancel` authorises a cancel (return False to ignore it, e.g. when the requester is not the
    run's owner); `signal` is an external abort (e.g. the HTTP client went away); `on_ably_message`
    may mutate each outgoing output message; `on_cancelled(write)` may publish final outputs."""

    signal: AbortSignal | None = None
    on_cancel: Callable[[CancelRequest], Awaitable[bool]] | None = None
    on_cancelled: OnCancelled | None = None
    on_ably_message: Callable[[Message], None] | None = None
    on_error: Callable[[AblyError], None] | None = None
    on_steer: Callable[[], None] | None = None
