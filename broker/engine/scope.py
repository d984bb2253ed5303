"""Scoped storage keys: one store holds the logs of several apps without knowing what an app is.

Core stores a channel under `scoped(scope, name)` = `\\0<scope>\\0<name>`. Channel names may not
contain NUL (protocol/channels), and a scope may not either, so a scoped key can never equal a
channel name nor another scope's key, and derived logs (presence, annotations) built on it stay
apart too. A key without the prefix is a log written before keys were scoped. The engine only
uses `plain_name`: per-channel rules (retention) and error messages see the name a client used,
and `scope_of` to drop a whole scope. The empty scope is the broker's own (app ids are never
empty): its logs (the provisioned apps, core/provisioning) are never trimmed.
"""

from __future__ import annotations

_MARK = "\0"


def scoped(scope: str, name: str) -> str:
    return f"{_MARK}{scope}{_MARK}{name}"


def split_scoped(key: str) -> tuple[str | None, str]:
    """(scope, channel name) of a key; (None, key) for an unscoped one."""
    if not key.startswith(_MARK):
        return None, key
    scope, mark, name = key[1:].partition(_MARK)
    return (scope, name) if mark else (None, key)


def plain_name(key: str) -> str:
    return split_scoped(key)[1]


def scope_of(key: str) -> str | None:
    """The scope of a log key, seeing through a derived log (`\n<kind>\n<base key>...`)."""
    if key.startswith("\n"):
        parts = key.split("\n", 2)
        key = parts[2] if len(parts) == 3 else key
    return split_scoped(key)[0]


def system_key(name: str) -> str:
    """A log of the broker's own, in the empty scope."""
    return scoped("", name)
