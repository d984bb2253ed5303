"""Store epochs: a fresh name for every new channel store, so serials from a lost store never resume."""

from __future__ import annotations

import secrets


def new_epoch() -> str:
    """About 8 characters of [A-Za-z0-9]: short enough for every serial, random enough never to repeat."""
    return secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")
