"""Decode-time lifecycle repair for UIMessage streams joined part-way (per decoder, per run).

Before the first event of a stream (or a discrete tool-input) the decoder emits `start` and
`start-step` unless the real ones were decoded for that run; `finish-step` re-arms `start-step`;
`finish`, `error` and `abort` clear the run's state.
"""

from __future__ import annotations

from collections.abc import Callable

from ..define import LifecyclePolicy
from ..lifecycle import LifecycleTracker, Phase
from ..outputs import strip_none
from ..types import Event, StreamTracker

Repair = Callable[[str, dict[str, str]], list[Event]]
from .fields import F_MESSAGE_ID


def ui_lifecycle() -> LifecyclePolicy:
    tracker = LifecycleTracker([
        Phase("start", lambda ctx: [strip_none({"type": "start", "messageId": ctx.get("messageId")})]),
        Phase("start-step", lambda ctx: [{"type": "start-step"}]),
    ])

    def mark(key: str) -> Repair:
        def apply(run_id: str, codec: dict[str, str]) -> list[Event]:
            tracker.mark_emitted(run_id, key)
            return []
        return apply

    def reset_step(run_id: str, codec: dict[str, str]) -> list[Event]:
        tracker.reset_phase(run_id, "start-step")
        return []

    def clear(run_id: str, codec: dict[str, str]) -> list[Event]:
        tracker.clear_scope(run_id)
        return []

    def tool_input(run_id: str, codec: dict[str, str]) -> list[Event]:
        return tracker.ensure_phases(run_id, {"messageId": F_MESSAGE_ID.read(codec)})

    def stream_start(run_id: str, stream: StreamTracker) -> list[Event]:
        return tracker.ensure_phases(run_id, {"messageId": F_MESSAGE_ID.read(stream.codec_headers)})

    return LifecyclePolicy(
        on_discrete={"start": mark("start"), "start-step": mark("start-step"), "finish-step": reset_step,
                     "finish": clear, "error": clear, "abort": clear, "tool-input": tool_input},
        on_stream_start=stream_start)
