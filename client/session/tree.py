"""The conversation tree: every run and message from every client, decoded into one structure.

Input nodes (user prompts, keyed by codec-message-id) and run nodes (replies, keyed by run-id)
link by `parent`; nodes sort by serial (optimistic ones last); `fork-of` chains and shared
parents form sibling groups. Each node folds its events in serial order and keeps a log so a
late wire can refold it. Views choose one branch through the tree (`visible_nodes`).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..codec import headers as h
from ..codec.types import Codec, CodecEvent, DecodedMessage, ReducerMeta
from ..types import Message
from .emitter import Emitter
from .types import (
    InputNode,
    Node,
    OutputEvent,
    RunLifecycleEvent,
    RunNode,
    RunState,
    StepEndReason,
    StepInfo,
    StepLifecycleEvent,
)
from .wire_log import WireLog

log = logging.getLogger(__name__)

REORDER_WINDOW_MS = 120_000

# ReducerMeta is immutable and a stream's appends all share one (serial, message id): reuse the instances
_reducer_meta = lru_cache(maxsize=256)(ReducerMeta)


@dataclass(slots=True)
class _StepRecord:
    started: bool = False
    canonical: str | None = None  # serial of the canonical (latest) ai-step-start
    step_client_id: str | None = None
    start_serials: set[str] = field(default_factory=set)
    end_reasons: dict[str, StepEndReason] = field(default_factory=dict)


@dataclass(slots=True)
class _StepState:
    steps: dict[str, _StepRecord] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    attribution: dict[str, tuple[str, str]] = field(default_factory=dict)  # output serial -> (step, attempt)
    output_attempts: dict[str, set[str]] = field(default_factory=dict)


@dataclass(slots=True)
class _Entry:
    node: Node
    seq: int
    log: WireLog = field(default_factory=WireLog)
    last_activity: int = 0
    run_start_seen: bool = False
    sweep_queued: bool = False
    optimistic: bool = False
    steps: _StepState | None = None

    def sort_key(self) -> tuple[int, str, int]:
        serial = self.node.sort_serial
        return (0, serial, self.seq) if serial is not None else (1, "", self.seq)


@dataclass(slots=True)
class _Route:
    """What `_apply_run` derives from a run wire's headers: where it folds and what its `output`
    event carries. Kept per stream serial: an append with equal headers derives the same again (a
    run's entry is never replaced once keyed by its run id; the indexes and step attribution it
    would write are already there), so it folds straight through this."""

    headers: dict[str, str]
    entry: _Entry
    owner: str
    input_codec_message_id: str | None
    codec_message_id: str | None
    step_id: str | None
    step_start_serial: str | None
    steer_ids: list[str] | None


ROUTES = 64  # streams open at once that keep a route; beyond that, appends take the general path


class Tree:
    """JS `Tree`: events `update` (structure), `output` (per folded wire), `run` (lifecycle), `ably_message`."""

    def __init__(self, codec: Codec[Any, Any], reorder_window_ms: int = REORDER_WINDOW_MS) -> None:
        self._codec = codec
        self._window = reorder_window_ms
        self._emitter = Emitter()
        self._nodes: dict[str, _Entry] = {}
        self._by_codec_message_id: dict[str, str] = {}
        self._sorted: list[_Entry] = []
        self._children: dict[str | None, set[str]] = {}
        self._reply_runs: dict[str, set[str]] = {}
        self._superseded: set[str] = set()
        self._seq = 0
        self._version = 0  # bumped on every structural change
        self._sibling_cache: dict[str, list[_Entry]] = {}
        self._sibling_cache_version = -1
        self._event_ids: dict[str, Message] = {}
        self._clock = 0
        self._sweep_queue: list[str] = []
        self._replacements = 0
        self._routes: dict[str, _Route] = {}  # stream serial -> route of its appends

    @property
    def projection_replacements(self) -> int:
        """How many times a node's projection object was replaced (a refold, or a fold returning a new
        object): while it stands still, every projection a view flattened is still current."""
        return self._replacements

    # --- events --------------------------------------------------------------------------

    def on(self, event: str, handler: Callable[[Any], None]) -> Callable[[], None]:
        """`update`, `output`, `run` or `ably_message`; returns an unsubscribe callable."""
        return self._emitter.on(event, handler)

    def emit_ably_message(self, message: Message, headers: dict[str, str] | None = None) -> None:
        """Index the message by event-id and announce it; `headers`: its transport tier, if parsed already."""
        event_id = (h.transport_headers(message) if headers is None else headers).get(h.EVENT_ID)
        if event_id is not None and event_id not in self._event_ids:
            self._event_ids[event_id] = message
        self._emitter.emit("ably_message", message)

    def find_ably_message_by_event_id(self, event_id: str) -> Message | None:
        return self._event_ids.get(event_id)

    # --- lookups -------------------------------------------------------------------------

    def get_node(self, key: str) -> Node | None:
        entry = self._nodes.get(key)
        return entry.node if entry is not None else None

    def get_run_node(self, run_id: str) -> RunNode | None:
        node = self.get_node(run_id)
        return node if isinstance(node, RunNode) else None

    def get_node_by_codec_message_id(self, codec_message_id: str) -> Node | None:
        key = self._by_codec_message_id.get(codec_message_id)
        return self.get_node(key) if key is not None else None

    def get_reply_runs(self, input_codec_message_id: str) -> list[RunNode]:
        out = []
        for run_id in self._reply_runs.get(input_codec_message_id, ()):
            if run_id in self._superseded:
                continue
            node = self.get_node(run_id)
            if isinstance(node, RunNode):
                out.append(node)
        return out

    def get_sibling_nodes(self, key: str) -> list[Node]:
        return [e.node for e in self._sibling_group(key)]

    def nodes(self) -> list[Node]:
        """Every node in sort order."""
        return [e.node for e in self._sorted]

    # --- ordering ------------------------------------------------------------------------

    def _insert_sorted(self, entry: _Entry) -> None:
        if entry.node.sort_serial is None:
            self._sorted.append(entry)
        else:
            bisect.insort_right(self._sorted, entry, key=_Entry.sort_key)

    def _remove_sorted(self, entry: _Entry) -> None:
        for i, candidate in enumerate(self._sorted):
            if candidate is entry:
                del self._sorted[i]
                return

    def _insert(self, key: str, entry: _Entry) -> None:
        self._nodes[key] = entry
        self._children.setdefault(entry.node.parent_codec_message_id, set()).add(key)
        self._insert_sorted(entry)
        self._version += 1

    def _promote(self, entry: _Entry) -> None:
        self._remove_sorted(entry)
        self._insert_sorted(entry)
        self._version += 1

    def _wrap(self, node: Node, run_start_seen: bool = False) -> _Entry:
        self._seq += 1
        return _Entry(node, self._seq, run_start_seen=run_start_seen)

    # --- folding -------------------------------------------------------------------------

    def _gated(self, entry: _Entry, serial: str) -> bool:
        """Output of a superseded step attempt is not folded."""
        steps = entry.steps
        if steps is None or serial not in steps.attribution:
            return False
        step_id, attempt = steps.attribution[serial]
        rec = steps.steps.get(step_id)
        return rec is not None and rec.canonical is not None and attempt != rec.canonical

    def _fold_into(self, entry: _Entry, events: list[CodecEvent], serial: str | None, message_id: str | None) -> None:
        node = entry.node
        meta = _reducer_meta(serial or "", message_id)
        for event in events:
            try:
                projection = self._codec.fold(node.projection, event, meta)
            except Exception:
                log.exception("fold raised for node %s", node.key)
                continue
            if projection is not node.projection:
                node.projection = projection
                self._replacements += 1

    def _refold(self, entry: _Entry) -> None:
        projection = self._codec.init()

        def visit(event: CodecEvent, serial: str, message_id: str | None) -> None:
            nonlocal projection
            if self._gated(entry, serial):
                return
            try:
                projection = self._codec.fold(projection, event, ReducerMeta(serial, message_id))
            except Exception:
                log.exception("refold raised for node %s", entry.node.key)

        entry.log.replay(visit)
        entry.node.projection = projection
        self._replacements += 1

    def _record_and_fold(self, entry: _Entry, events: list[CodecEvent], serial: str | None,
                         message_id: str | None, version: str | None, streamed: bool, gated: bool) -> None:
        """Log the wire's events and fold them (a gated wire is logged, not folded)."""
        if serial is None or not events:
            if serial is None and events:
                entry.optimistic = True
            self._fold_into(entry, events, serial, message_id)
            return
        fold = entry.log.record(serial, message_id, events, version, streamed)
        if fold == "dropped":
            return
        if entry.optimistic and not entry.log.swept:
            entry.optimistic = False  # the echo replaces the optimistic seed: rebuild from the log
            self._refold(entry)
            return
        if fold == "refold":
            self._refold(entry)
            return
        if entry.log.swept:
            log.warning("late wire %s for %s after the reorder window; folding in arrival order", serial,
                        entry.node.key)
        if not gated:
            self._fold_into(entry, events, serial, message_id)

    # --- reorder-window sweep ------------------------------------------------------------

    def _activity(self, entry: _Entry, timestamp: int | None) -> None:
        if timestamp is None:
            return
        if timestamp > entry.last_activity:
            entry.last_activity = timestamp
        if timestamp > self._clock:
            self._clock = timestamp
            self._drain_sweeps()

    def _maybe_queue_sweep(self, entry: _Entry) -> None:
        node = entry.node
        if not isinstance(node, RunNode) or entry.log.swept or entry.sweep_queued or not entry.run_start_seen:
            return
        if node.state.status in ("active", "suspended") or self._unsettled_step(entry):
            return
        entry.sweep_queued = True
        self._sweep_queue.append(node.run_id)

    @staticmethod
    def _unsettled_step(entry: _Entry) -> bool:
        if entry.steps is None:
            return False
        for rec in entry.steps.steps.values():
            if rec.started and (rec.canonical is None or rec.canonical not in rec.end_reasons):
                return True
        return False

    def _drain_sweeps(self) -> None:
        while self._sweep_queue:
            entry = self._nodes.get(self._sweep_queue[0])
            if entry is None or entry.log.swept:
                self._sweep_queue.pop(0)
                continue
            if entry.last_activity + self._window >= self._clock:
                return
            self._sweep_queue.pop(0)
            entry.sweep_queued = False
            entry.log.sweep()

    # --- sibling groups and visible branch ----------------------------------------------

    def _parent_key(self, node: Node) -> str | None:
        parent = node.parent_codec_message_id
        return self._by_codec_message_id.get(parent) if parent is not None else None

    def _input_group_root(self, node: InputNode) -> InputNode:
        current = node
        visited = {current.key}
        while current.fork_of is not None and current.fork_of not in visited:
            target = self._nodes.get(current.fork_of)
            if target is None or not isinstance(target.node, InputNode) \
                    or target.node.parent_codec_message_id != current.parent_codec_message_id:
                break
            current = target.node
            visited.add(current.key)
        return current

    def _is_sibling_of(self, node: Node, original: Node) -> bool:
        if node.kind != original.kind or node.parent_codec_message_id != original.parent_codec_message_id:
            return False
        if isinstance(node, RunNode):
            return True
        if node.key == original.key:
            return True
        current: Node = node
        visited = {current.key}
        while isinstance(current, InputNode) and current.fork_of is not None:
            if current.fork_of == original.key:
                return True
            if current.fork_of in visited:
                break
            target = self._nodes.get(current.fork_of)
            if target is None:
                break
            current = target.node
            visited.add(current.key)
        return False

    def _sibling_group(self, key: str) -> list[_Entry]:
        if self._sibling_cache_version != self._version:
            self._sibling_cache.clear()
            self._sibling_cache_version = self._version
        cached = self._sibling_cache.get(key)
        if cached is not None:
            return cached
        entry = self._nodes.get(key)
        if entry is None:
            return []
        original = entry.node
        if isinstance(original, InputNode):
            original = self._input_group_root(original)
        siblings = []
        for child in self._children.get(original.parent_codec_message_id, ()):
            if child in self._superseded:
                continue
            child_entry = self._nodes.get(child)
            if child_entry is not None and self._is_sibling_of(child_entry.node, original):
                siblings.append(child_entry)
        siblings.sort(key=_Entry.sort_key)
        for sibling in siblings:
            self._sibling_cache[sibling.node.key] = siblings
        self._sibling_cache[key] = siblings
        return siblings

    def get_group_root(self, key: str) -> str:
        entry = self._nodes.get(key)
        if entry is None:
            return key
        if isinstance(entry.node, InputNode):
            return self._input_group_root(entry.node).key
        group = self._sibling_group(key)
        return group[0].node.key if group else key

    def visible_nodes(self, selections: dict[str, str] | None = None) -> list[Node]:
        """One branch: walk in sort order, keep nodes on the chosen path; at each sibling group keep
        the selected member (a valid selection for the group root, else the latest)."""
        selections = selections or {}
        result: list[Node] = []
        path: set[str] = set()
        resolved: dict[str, str] = {}
        for entry in self._sorted:
            node = entry.node
            key = node.key
            if key in self._superseded:
                continue
            parent_key = self._parent_key(node)
            if parent_key is not None and parent_key not in path:
                continue
            group = self._sibling_group(key)
            if len(group) > 1:
                root = self.get_group_root(key)
                selected = resolved.get(root)
                if selected is None:
                    preferred = selections.get(root)
                    if preferred is not None and any(g.node.key == preferred for g in group):
                        selected = preferred
                    else:
                        selected = group[-1].node.key
                    resolved[root] = selected
                if key != selected:
                    continue
            path.add(key)
            result.append(node)
        return result

    # --- applying wires ------------------------------------------------------------------

    def apply_message(self, decoded: DecodedMessage, headers: dict[str, str], serial: str | None = None,
                      timestamp: int | None = None, version: str | None = None) -> None:
        """Fold one decoded wire (or an optimistic local input when `serial` is None)."""
        route = self._routes.get(serial) if serial is not None else None
        if route is not None and serial is not None:
            if route.headers == headers:
                self._continue_stream(route, decoded, serial, timestamp, version)
                return
            del self._routes[serial]
        wire_run_id = headers.get(h.RUN_ID)
        codec_message_id = headers.get(h.CODEC_MESSAGE_ID)
        run_less = wire_run_id is None and codec_message_id is not None and bool(decoded.inputs)
        input_id = codec_message_id if run_less and headers.get(h.ROLE) == "user" else None
        fork_id = codec_message_id if run_less and headers.get(h.ROLE) != "user" else None
        if wire_run_id is None and input_id is None and fork_id is None:
            return
        events = decoded.events()
        existing = input_id if input_id is not None else wire_run_id
        if not events and existing is not None and existing not in self._nodes:
            return
        before = self._version
        if fork_id is not None:
            superseded = headers.get(h.SUPERSEDES)
            if superseded is not None and superseded not in self._superseded:
                self._superseded.add(superseded)
                self._version += 1
        if input_id is not None:
            self._apply_input(input_id, headers, serial, timestamp, version, events)
        elif fork_id is not None:
            mapped = self._by_codec_message_id.get(fork_id)
            mapped_entry = self._nodes.get(mapped) if mapped is not None else None
            key = mapped if mapped is not None and mapped_entry is not None \
                and isinstance(mapped_entry.node, RunNode) else fork_id
            self._apply_run(key, decoded, events, headers, serial, timestamp, version)
        elif wire_run_id is not None:
            self._apply_run(wire_run_id, decoded, events, headers, serial, timestamp, version)
        if self._version != before:
            self._emitter.emit("update")

    def _apply_input(self, codec_message_id: str, headers: dict[str, str], serial: str | None,
                     timestamp: int | None, version: str | None, events: list[CodecEvent]) -> None:
        entry = self._nodes.get(codec_message_id)
        if entry is None:
            node = InputNode(codec_message_id, headers.get(h.PARENT), headers.get(h.FORK_OF), self._codec.init(),
                             serial)
            entry = self._wrap(node)
            self._insert(codec_message_id, entry)
            self._by_codec_message_id[codec_message_id] = codec_message_id
        elif isinstance(entry.node, InputNode) and serial and not entry.node.serial:
            entry.node.serial = serial
            self._promote(entry)
        self._activity(entry, timestamp)
        gated = serial is not None and self._gated(entry, serial)
        self._record_and_fold(entry, events, serial, codec_message_id, version, headers.get(h.STREAM) == "true",
                              gated)
        self._emitter.emit("output", OutputEvent(None, codec_message_id, codec_message_id, serial, [],
                                                 [e.event for e in events if e.direction == "input"]))

    def _apply_run(self, run_id: str, decoded: DecodedMessage, events: list[CodecEvent], headers: dict[str, str],
                   serial: str | None, timestamp: int | None, version: str | None) -> None:
        codec_message_id = headers.get(h.CODEC_MESSAGE_ID)
        input_codec_message_id = headers.get(h.INPUT_CODEC_MESSAGE_ID)
        self._link_fork_input(input_codec_message_id, run_id)
        entry = self._nodes.get(run_id)
        if entry is None and codec_message_id is not None:
            indexed_key = self._by_codec_message_id.get(codec_message_id)
            indexed = self._nodes.get(indexed_key) if indexed_key is not None else None
            if indexed is not None and isinstance(indexed.node, RunNode) and indexed.node.start_serial is None:
                entry = indexed
        if entry is None:
            fork_of = headers.get(h.FORK_OF)
            node = RunNode(run_id, headers.get(h.PARENT),
                           self._by_codec_message_id.get(fork_of) if fork_of else None,
                           headers.get(h.MSG_REGENERATE), headers.get(h.RUN_CLIENT_ID, ""),
                           headers.get(h.INVOCATION_ID, ""), self._codec.init(), serial)
            entry = self._wrap(node)
            self._insert(run_id, entry)
            self._index_reply_run(node, run_id)
        elif serial and isinstance(entry.node, RunNode) and not entry.node.start_serial:
            entry.node.start_serial = serial
            self._promote(entry)
        owner = entry.node.key
        if codec_message_id:
            self._by_codec_message_id[codec_message_id] = owner
        self._activity(entry, timestamp)
        step_id = headers.get(h.STEP_ID)
        step_start_serial = headers.get(h.STEP_START_SERIAL)
        if step_id is not None and step_start_serial is not None and serial is not None:
            steps = entry.steps = entry.steps or _StepState()
            steps.attribution[serial] = (step_id, step_start_serial)
            steps.output_attempts.setdefault(step_id, set()).add(step_start_serial)
        stamp = headers.get(h.STEER_CODEC_MESSAGE_IDS)
        steer_ids = _parse_steer_stamp(stamp) if stamp is not None else None
        route = _Route(headers, entry, owner, input_codec_message_id, codec_message_id, step_id,
                       step_start_serial, steer_ids)
        streamed = headers.get(h.STREAM) == "true"
        self._fold_wire(route, decoded, events, serial, version, streamed)
        if streamed and serial is not None and headers.get(h.STATUS) == "streaming" and h.RUN_ID in headers:
            if len(self._routes) >= ROUTES:
                self._routes.clear()
            self._routes[serial] = route

    def _continue_stream(self, route: _Route, decoded: DecodedMessage, serial: str, timestamp: int | None,
                         version: str | None) -> None:
        """`_apply_run` for an append that its route vouches for: only the per-wire steps."""
        before = self._version
        self._activity(route.entry, timestamp)
        self._fold_wire(route, decoded, decoded.events(), serial, version, True)
        if self._version != before:
            self._emitter.emit("update")

    def _fold_wire(self, route: _Route, decoded: DecodedMessage, events: list[CodecEvent], serial: str | None,
                   version: str | None, streamed: bool) -> None:
        """Log and fold one run wire where its route says, and announce it (unless its step attempt lost)."""
        gated = serial is not None and self._gated(route.entry, serial)
        self._record_and_fold(route.entry, events, serial, route.codec_message_id, version, streamed, gated)
        if not gated:
            self._emitter.emit("output", OutputEvent(route.owner, route.input_codec_message_id,
                                                     route.codec_message_id, serial, decoded.outputs, decoded.inputs,
                                                     route.step_id, route.step_start_serial, route.steer_ids))

    def _index_reply_run(self, node: Node, run_id: str) -> None:
        if node.parent_codec_message_id is not None:
            self._reply_runs.setdefault(node.parent_codec_message_id, set()).add(run_id)

    def _reparent_unparented(self, node: RunNode, parent: str, run_id: str) -> None:
        node.parent_codec_message_id = parent
        self._children.get(None, set()).discard(run_id)
        self._children.setdefault(parent, set()).add(run_id)
        self._index_reply_run(node, run_id)

    # --- lifecycle -----------------------------------------------------------------------

    def apply_run_lifecycle(self, event: RunLifecycleEvent) -> None:
        before = self._version
        if event.type == "start":
            self._run_start(event)
        elif event.type == "suspend":
            entry = self._nodes.get(event.run_id)
            if entry is not None and isinstance(entry.node, RunNode):
                node = entry.node
                retired = node.last_resume_invocation_id is not None and event.invocation_id != "" \
                    and node.last_resume_invocation_id != event.invocation_id
                if not retired:
                    node.state = RunState("suspended")
                    node.end_serial = event.serial
                    self._activity(entry, event.timestamp)
        elif event.type == "resume":
            entry = self._nodes.get(event.run_id)
            if entry is not None and isinstance(entry.node, RunNode):
                if event.invocation_id:
                    entry.node.last_resume_invocation_id = event.invocation_id
                if entry.node.state.status == "suspended":
                    entry.node.state = RunState("active")
                    self._activity(entry, event.timestamp)
        else:
            entry = self._nodes.get(event.run_id)
            if entry is not None and isinstance(entry.node, RunNode):
                reason = event.reason or "complete"
                entry.node.state = RunState(reason, event.error if reason == "error" else None)
                entry.node.end_serial = event.serial
                self._activity(entry, event.timestamp)
                self._maybe_queue_sweep(entry)
        self._emitter.emit("run", event)
        if self._version != before:
            self._emitter.emit("update")

    def _backfill(self, entry: _Entry, event: RunLifecycleEvent, structural: bool) -> None:
        """Fill in what an output-created or optimistic run node did not know yet."""
        node = entry.node
        assert isinstance(node, RunNode)
        if node.parent_codec_message_id is None and event.parent is not None:
            self._reparent_unparented(node, event.parent, event.run_id)
            if structural:
                self._version += 1
        if node.fork_of is None and event.fork_of is not None:
            fork_key = self._by_codec_message_id.get(event.fork_of)
            if fork_key is not None and fork_key != event.run_id:
                node.fork_of = fork_key
                if structural:
                    self._version += 1
        if node.regenerates_codec_message_id is None and event.regenerates is not None:
            node.regenerates_codec_message_id = event.regenerates
            if structural:
                self._version += 1
        if node.invocation_id == "" and event.invocation_id != "":
            node.invocation_id = event.invocation_id

    def _run_start(self, event: RunLifecycleEvent) -> None:
        entry = self._nodes.get(event.run_id)
        if entry is not None and isinstance(entry.node, RunNode):
            node = entry.node
            self._link_fork_input(event.input_codec_message_id, event.run_id)
            if node.state.status == "suspended":
                node.state = RunState("active")
            if event.serial and not node.start_serial:
                node.start_serial = event.serial
                self._promote(entry)
            self._backfill(entry, event, structural=True)
            entry.run_start_seen = True
            self._activity(entry, event.timestamp)
            self._maybe_queue_sweep(entry)
        elif entry is None:
            fork = self._rekey_optimistic_fork(event.input_codec_message_id, event.run_id)
            if fork is not None and isinstance(fork.node, RunNode):
                self._backfill(fork, event, structural=False)
                if event.serial and not fork.node.start_serial:
                    fork.node.start_serial = event.serial
                    self._promote(fork)
                fork.run_start_seen = True
                self._activity(fork, event.timestamp)
                self._maybe_queue_sweep(fork)
                return
            node = RunNode(event.run_id, event.parent,
                           self._by_codec_message_id.get(event.fork_of) if event.fork_of else None,
                           event.regenerates, event.client_id, event.invocation_id, self._codec.init(),
                           event.serial)
            new_entry = self._wrap(node, run_start_seen=True)
            self._insert(event.run_id, new_entry)
            self._index_reply_run(node, event.run_id)
            self._activity(new_entry, event.timestamp)
            self._link_fork_input(event.input_codec_message_id, event.run_id)

    def _rekey_optimistic_fork(self, fork_id: str | None, run_id: str) -> _Entry | None:
        """A client tool-result fork is keyed by its codec-message-id until the agent names the run."""
        if fork_id is None or fork_id == run_id:
            return None
        entry = self._nodes.get(fork_id)
        if entry is None or not isinstance(entry.node, RunNode) or entry.node.run_id != fork_id:
            return None
        existing = self._nodes.get(run_id)
        if existing is not None and existing is not entry:
            return None
        node = entry.node
        del self._nodes[fork_id]
        node.run_id = run_id
        self._nodes[run_id] = entry
        parent = node.parent_codec_message_id
        self._children.get(parent, set()).discard(fork_id)
        self._children.setdefault(parent, set()).add(run_id)
        if parent is not None:
            self._reply_runs.get(parent, set()).discard(fork_id)
            self._reply_runs.setdefault(parent, set()).add(run_id)
        self._by_codec_message_id[fork_id] = run_id
        self._version += 1
        return entry

    def _link_fork_input(self, fork_id: str | None, run_id: str) -> None:
        if fork_id is None or fork_id == run_id:
            return
        if self._rekey_optimistic_fork(fork_id, run_id) is not None:
            return
        self._by_codec_message_id.setdefault(fork_id, run_id)

    def apply_step_lifecycle(self, event: StepLifecycleEvent) -> None:
        before = self._version
        entry = self._run_entry_for_step(event.run_id) if event.type == "step-start" \
            else self._nodes.get(event.run_id)
        if entry is None or not isinstance(entry.node, RunNode):
            return
        self._activity(entry, event.timestamp)
        steps = entry.steps = entry.steps or _StepState()
        rec = steps.steps.get(event.step_id)
        if rec is None:
            rec = steps.steps[event.step_id] = _StepRecord()
            steps.order.append(event.step_id)
        start_serial = event.serial if event.type == "step-start" else event.step_start_serial
        if start_serial is not None:
            rec.start_serials.add(start_serial)
        if event.type == "step-start":
            canonical = not rec.started or (rec.canonical is None and event.serial is not None) or (
                rec.canonical is not None and event.serial is not None and event.serial > rec.canonical)
            rec.started = True
            if canonical:
                rec.canonical = event.serial
                rec.step_client_id = event.step_client_id
                attempts = steps.output_attempts.get(event.step_id)
                if attempts and any(s != event.serial for s in attempts):
                    self._refold_for_supersede(entry)
        elif event.step_start_serial is not None and event.reason is not None:
            rec.end_reasons[event.step_start_serial] = event.reason
        entry.node.steps = tuple(self._step_infos(steps))
        self._maybe_queue_sweep(entry)
        if self._version != before:
            self._emitter.emit("update")

    @staticmethod
    def _step_infos(steps: _StepState) -> list[StepInfo]:
        out = []
        for step_id in steps.order:
            rec = steps.steps[step_id]
            status = "active" if not rec.started or rec.canonical is None \
                else rec.end_reasons.get(rec.canonical, "active")
            out.append(StepInfo(step_id, status, len(rec.start_serials), rec.step_client_id))  # type: ignore[arg-type]
        return out

    def _refold_for_supersede(self, entry: _Entry) -> None:
        if entry.log.swept:
            log.warning("superseding step-start after the log was swept; superseded output stays")
            return
        self._refold(entry)
        self._emitter.emit("output", OutputEvent(entry.node.key, None, None, None, [], []))

    def _run_entry_for_step(self, run_id: str) -> _Entry | None:
        existing = self._nodes.get(run_id)
        if existing is not None:
            return existing if isinstance(existing.node, RunNode) else None
        entry = self._wrap(RunNode(run_id, None, None, None, "", "", self._codec.init(), None))
        self._insert(run_id, entry)
        return entry

    def delete(self, key: str) -> None:
        """Remove a node (an optimistic input whose publish failed)."""
        entry = self._nodes.pop(key, None)
        if entry is None:
            return
        parent = entry.node.parent_codec_message_id
        self._children.get(parent, set()).discard(key)
        self._remove_sorted(entry)
        if isinstance(entry.node, RunNode) and parent is not None:
            self._reply_runs.get(parent, set()).discard(key)
        self._version += 1
        self._emitter.emit("update")


def _parse_steer_stamp(stamp: str) -> list[str] | None:
    try:
        parsed = json.loads(stamp)
    except ValueError:
        return None
    if not isinstance(parsed, list):
        return None
    ids = [i for i in parsed if isinstance(i, str)]
    return ids or None
