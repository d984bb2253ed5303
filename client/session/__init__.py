"""AI sessions: a conversation that follows its user across devices (wire-compatible with @ably/ai-transport 0.8.0).

`ClientSession` (a device), `AgentSession` (the agent), the conversation `Tree` and its `View`s.
The session reaches the realtime layer only through `SessionChannel` (channel.py).
"""

from .adapter import RealtimeSessionChannel
from .agent.hooks import RunHooks
from .agent.session import AgentRun, AgentSession
from .agent.step_writer import RunStep
from .channel import HistoryPage, SessionChannel, SessionPresence
from .client_session import ClientRun, ClientSession
from .client_view import ClientView
from .invocation import Invocation, invoke_agent
from .participants import Participant, Participants
from .signals import AbortController, AbortSignal
from .steer import SteerOutcome, SteerResult
from .tree import Tree
from .types import (
    BranchHandle,
    CancelRequest,
    InputNode,
    OutputEvent,
    RunInfo,
    RunLifecycleEvent,
    RunNode,
    SendOptions,
    StepInfo,
    StreamResult,
)
from .view import View

__all__ = [
    "AbortController", "AbortSignal", "AgentRun", "AgentSession", "BranchHandle", "CancelRequest", "ClientRun",
    "ClientSession", "ClientView", "HistoryPage", "InputNode", "Invocation", "OutputEvent", "Participant", "Participants", "RealtimeSessionChannel",
    "RunHooks", "RunInfo", "RunLifecycleEvent", "RunNode", "RunStep", "SendOptions", "SessionChannel",
    "SessionPresence", "SteerOutcome", "SteerResult", "StepInfo", "StreamResult", "Tree", "View", "invoke_agent",
]
