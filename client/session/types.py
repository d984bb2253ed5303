"""Session read models and events (Pythonic names; the JS names are in each docstring)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from ..errors import AblyError
from ..types import Message

RunStatus = Literal["active", "suspended", "complete", "cancelled", "error"]
RunEndReason = Literal["complete", "cancelled", "error"]
StepEndReason = Literal["complete", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"complete", "cancelled", "error"})

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class StepInfo:
    """JS `StepInfo`: one re-attemptable unit of agent work within a run."""

    step_id: str
    status: Literal["active", "complete", "failed", "cancelled"]
    attempt_count: int
    step_client_id: str | None


@dataclass(frozen=True, slots=True)
class RunInfo:
    """JS `RunInfo`: a snapshot of one run, the same on every connected client."""

    run_id: str
    client_id: str  # the run's owner ("" when the wire carried none)
    invocation_id: str
    status: RunStatus
    steps: tuple[StepInfo, ...] = ()
    error: AblyError | None = None


@dataclass(slots=True)
class RunState:
    status: RunStatus = "active"
    error: AblyError | None = None


@dataclass(frozen=True, slots=True)
class RunLifecycleEvent:
    """JS `RunLifecycleEvent`: `type` is start, suspend, resume or end; `serial` is None when local."""

    type: Literal["start", "suspend", "resume", "end"]
    run_id: str
    client_id: str
    invocation_id: str
    serial: str | None
    timestamp: int | None = None
    parent: str | None = None
    fork_of: str | None = None
    regenerates: str | None = None
    input_codec_message_id: str | None = None
    reason: RunEndReason | None = None
    error: AblyError | None = None


@dataclass(frozen=True, slots=True)
class StepLifecycleEvent:
    """JS `StepLifecycleEvent`: step-start or step-end."""

    type: Literal["step-start", "step-end"]
    run_id: str
    step_id: str
    invocation_id: str
    run_client_id: str
    invocation_client_id: str
    step_client_id: str
    serial: str | None
    step_start_serial: str | None = None
    reason: StepEndReason | None = None
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class OutputEvent:
    """JS tree `output`: fired once per folded wire (events may be empty: "projection changed")."""

    run_id: str | None
    input_codec_message_id: str | None
    codec_message_id: str | None
    serial: str | None
    events: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    step_id: str | None = None
    step_start_serial: str | None = None
    steer_codec_message_ids: list[str] | None = None


@dataclass(slots=True)
class InputNode:
    """A user prompt (JS `InputNode`), keyed by its codec-message-id."""

    codec_message_id: str
    parent_codec_message_id: str | None
    fork_of: str | None
    projection: Any
    serial: str | None
    kind: Literal["input"] = "input"

    @property
    def key(self) -> str:
        return self.codec_message_id

    @property
    def sort_serial(self) -> str | None:
        return self.serial


@dataclass(slots=True)
class RunNode:
    """One reply run (JS `RunNode`), keyed by its run-id."""

    run_id: str
    parent_codec_message_id: str | None
    fork_of: str | None
    regenerates_codec_message_id: str | None
    client_id: str
    invocation_id: str
    projection: Any
    start_serial: str | None
    state: RunState = field(default_factory=RunState)
    last_resume_invocation_id: str | None = None
    end_serial: str | None = None
    steps: tuple[StepInfo, ...] = ()
    kind: Literal["run"] = "run"

    @property
    def key(self) -> str:
        return self.run_id

    @property
    def sort_serial(self) -> str | None:
        return self.start_serial

    def info(self) -> RunInfo:
        return RunInfo(self.run_id, self.client_id, self.invocation_id, self.state.status, self.steps,
                       self.state.error)


Node = InputNode | RunNode


@dataclass(slots=True)
class SendOptions:
    """JS `SendOptions`. `fork_of` (set by edit) disables the automatic parent; `run_id` continues a run."""

    fork_of: str | None = None
    parent: str | None = None
    run_id: str | None = None
    role: str | None = None
    supersedes: str | None = None


@dataclass(slots=True)
class BranchHandle(Generic[M]):
    """JS `BranchHandle`: the siblings at a branch point and this view's selection among them."""

    has_siblings: bool
    siblings: list[M]
    index: int
    selected: M | None
    _select: Callable[[int], None] = field(repr=False)

    def select(self, index: int) -> None:
        """Show sibling `index` (clamped) in this view only."""
        self._select(index)


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """What an agent's `on_cancel` hook sees: the raw `ai-cancel` (use `message.client_id`) and the run."""

    message: Message
    run_id: str


@dataclass(frozen=True, slots=True)
class StreamResult:
    """How a `pipe()` ended; it never raises for a stream error (reason "error" with the error)."""

    reason: RunEndReason
    error: BaseException | None = None
