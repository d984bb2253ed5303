"""Lifecycle tracker: synthesise the lead-in events a stream joined part-way never delivered.

Scoped per run: each configured phase (e.g. Vercel `start`, then `start-step`) is emitted once
before content unless the real event was already decoded for that scope.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .types import Event


@dataclass(frozen=True, slots=True)
class Phase:
    key: str
    build: Callable[[dict[str, str | None]], list[Event]]


class LifecycleTracker:
    def __init__(self, phases: Sequence[Phase]) -> None:
        self._phases = tuple(phases)
        self._emitted: dict[str, set[str]] = {}

    def ensure_phases(self, scope: str, context: dict[str, str | None]) -> list[Event]:
        """Synthetic events for the phases not yet seen in `scope`, in configuration order."""
        emitted = self._emitted.setdefault(scope, set())
        events: list[Event] = []
        for phase in self._phases:
            if phase.key not in emitted:
                emitted.add(phase.key)
                events.extend(phase.build(context))
        return events

    def mark_emitted(self, scope: str, key: str) -> None:
        self._emitted.setdefault(scope, set()).add(key)

    def reset_phase(self, scope: str, key: str) -> None:
        emitted = self._emitted.get(scope)
        if emitted is not None:
            emitted.discard(key)

    def clear_scope(self, scope: str) -> None:
        self._emitted.pop(scope, None)
