"""Views: one branch of the tree flattened to messages, with a paging window over history.

A view over a session starts empty: `load_older(n)` reveals exactly n more messages (fewer only at the start
of history), fetching pages as needed and withholding the surplus older nodes. Changes are
announced as `update` (the message list changed), `run` (a visible run's lifecycle) and
`ably_message` (raw live messages for visible runs); `watch()` yields message-list snapshots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from ..codec import headers as h
from ..codec.errors import AitError, ErrorCode
from ..codec.types import Codec, CodecMessage
from ..types import Message
from .branches import GetMessages, tail_split_index
from .emitter import Emitter
from .history import HistoryHydrator
from .tree import Tree
from .types import Node, OutputEvent, RunInfo, RunLifecycleEvent, RunNode

log = logging.getLogger(__name__)


class BranchSource(Protocol):
    def visible_nodes(self) -> list[Node]: ...

    def extract_messages(self, nodes: list[Node], get_messages: GetMessages | None = None) -> list[CodecMessage[Any]]: ...

    def selected_reply_run(self, input_codec_message_id: str) -> RunNode | None: ...

    def on_visible_nodes_changed(self, previous_keys: list[str]) -> None: ...


class View:
    """JS `View`: the read surface shared by client views and the agent's run view."""

    def __init__(self, tree: Tree, codec: Codec[Any, Any], hydrator: HistoryHydrator | None, branches: BranchSource,
                 on_close: Callable[[], None] | None = None,
                 defer_steer: Callable[[str, str], bool] | None = None) -> None:
        self._tree = tree
        self._codec = codec
        self._hydrator = hydrator
        self._branches = branches
        self._on_close = on_close
        self._defer_steer = defer_steer
        self._emitter = Emitter()
        self._messages_by_node: dict[str, list[CodecMessage[Any]]] = {}
        self._withheld_keys: set[str] = set()
        self._withheld: list[Node] = []
        self._hidden = 0
        self._nodes: list[Node] = []
        self._keys: list[str] = []
        self._key_set: set[str] = set()
        self._projections: list[Any] = []
        self._replacements_seen = -1  # tree.projection_replacements when `_projections` was last known current
        self._messages: list[CodecMessage[Any]] = []
        self._counts: dict[str, int] = {}  # messages per node when `_messages` was flattened
        self._loading = False
        self._load_task: asyncio.Future[list[CodecMessage[Any]]] | None = None
        self._processing_history = False
        self._walk_lock = asyncio.Lock()
        self._walking = False
        self._closed = False
        self._nodes = self._flat_nodes()
        self._snapshot(self._nodes)
        self._unsubs = [tree.on("update", lambda _: self._on_tree_update()),
                        tree.on("ably_message", self._on_ably_message),
                        tree.on("run", self._on_run),
                        tree.on("output", self._on_output)]

    # --- read surface --------------------------------------------------------------------

    def get_messages(self) -> list[CodecMessage[Any]]:
        """The visible branch, oldest first, within the paging window (JS `getMessages`)."""
        return self._messages

    def messages(self) -> list[Any]:
        """Just the domain messages of `get_messages()`."""
        return [m.message for m in self._messages]

    def runs(self) -> list[RunInfo]:
        """Visible reply runs, in order (JS `runs`)."""
        return [n.info() for n in self._nodes if isinstance(n, RunNode)]

    def has_older(self) -> bool:
        history = self._hydrator is not None and self._hydrator.has_next()
        return self._hidden > 0 or bool(self._withheld) or history

    def run_of(self, codec_message_id: str) -> RunInfo | None:
        """The run owning a message; for a user prompt, its selected reply run."""
        node = self._tree.get_node_by_codec_message_id(codec_message_id)
        if node is None:
            return None
        if isinstance(node, RunNode):
            return node.info()
        reply = self._branches.selected_reply_run(node.codec_message_id)
        return reply.info() if reply is not None else None

    def run(self, run_id: str) -> RunInfo | None:
        node = self._tree.get_run_node(run_id)
        return node.info() if node is not None else None

    def on(self, event: str, handler: Callable[[Any], None]) -> Callable[[], None]:
        """`update`, `run` or `ably_message`; returns an unsubscribe callable."""
        return self._emitter.on(event, handler)

    async def watch(self) -> AsyncIterator[list[Any]]:
        """`async for messages in view.watch()`: the current messages, then a snapshot after each change
        of the messages or of a visible run's status (latest wins if the consumer is slower than the
        changes). Ends when the view closes."""
        changed = asyncio.Event()
        changed.set()
        offs = [self.on(event, lambda _: changed.set()) for event in ("update", "run", "closed")]
        try:
            while True:
                await changed.wait()
                changed.clear()
                if self._closed:
                    return
                yield self.messages()
        finally:
            for off in offs:
                off()

    # --- paging --------------------------------------------------------------------------

    async def load(self, limit: int = 30) -> list[CodecMessage[Any]]:
        """The first page: same as `load_older(limit)` on a fresh view."""
        return await self.load_older(limit)

    async def load_older(self, limit: int = 10) -> list[CodecMessage[Any]]:
        """Reveal `limit` more older messages; returns them oldest first ([] if closed or busy)."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                           f"unable to load older messages; limit must be a positive integer, got {limit!r}")
        if self._closed or self._loading:
            return []
        self._loading = True
        self._load_task = asyncio.ensure_future(self._load_older(limit))
        try:
            return await self._load_task
        finally:
            self._loading = False
            self._load_task = None

    async def _load_older(self, limit: int) -> list[CodecMessage[Any]]:
        previous_oldest = self._messages[0].codec_message_id if self._messages else None
        if self._hidden >= limit:
            self._hidden -= limit
            self._recompute_and_emit()
            return self._revealed_since(previous_oldest)
        need = limit - self._hidden
        before = len(self._extract(self._flat_nodes()))
        if self._withheld:
            split = tail_split_index(self._withheld, need, self._node_messages)
            batch = self._withheld[split:]
            del self._withheld[split:]
            self._release(batch)
        revealed = len(self._extract(self._flat_nodes())) - before
        if revealed < need:
            await self._fetch_older(need - revealed)
            if self._closed:
                return []
        after = len(self._extract(self._flat_nodes()))
        self._hidden = max(0, self._hidden + (after - before) - limit)
        self._recompute_and_emit()
        return self._revealed_since(previous_oldest)

    async def load_until(self, predicate: Callable[[CodecMessage[Any]], bool]) -> list[CodecMessage[Any]]:
        """Page back one message at a time until `predicate` matches (the seam); hide the seam and
        everything older; return the messages strictly newer than it (the whole window if none match)."""
        async with self._walk_lock:
            self._walking = True
            try:
                tail = self._tail_at_seam(self._messages, predicate)
                if tail is not None:
                    return tail
                while self.has_older():
                    if self._closed:
                        return []
                    if self._load_task is not None:
                        await asyncio.shield(self._load_task)
                        continue
                    tail = self._tail_at_seam(await self.load_older(1), predicate)
                    if tail is not None:
                        return tail
                return list(self._messages)
            finally:
                self._walking = False
                if not self._closed:
                    self._emitter.emit("update")

    def _tail_at_seam(self, page: list[CodecMessage[Any]],
                      predicate: Callable[[CodecMessage[Any]], bool]) -> list[CodecMessage[Any]] | None:
        index = next((i for i, m in enumerate(page) if predicate(m)), -1)
        if index == -1:
            return None
        self._hidden += index + 1
        self._recompute_and_emit()
        return list(self._messages)

    def _revealed_since(self, previous_oldest: str | None) -> list[CodecMessage[Any]]:
        if previous_oldest is None:
            return list(self._messages)
        index = next((i for i, m in enumerate(self._messages) if m.codec_message_id == previous_oldest), -1)
        return self._messages[:index] if index > 0 else []

    async def _fetch_older(self, target: int) -> None:
        if self._hydrator is None or not self._hydrator.has_next():
            return
        before = {n.key for n in self._branches.visible_nodes()}

        def new_count() -> int:
            return sum(len(self._node_messages(n)) for n in self._branches.visible_nodes() if n.key not in before)

        self._processing_history = True
        try:
            await self._hydrator.fold_until(lambda: new_count() >= target)
        finally:
            self._processing_history = False
        if self._closed:
            return
        fresh = [n for n in self._branches.visible_nodes() if n.key not in before]
        split = tail_split_index(fresh, target, self._node_messages)
        for n in fresh[:split]:
            self._withheld_keys.add(n.key)
        self._withheld.extend(fresh[:split])
        self._release(fresh[split:])

    def _release(self, nodes: list[Node]) -> None:
        for n in nodes:
            self._withheld_keys.discard(n.key)
        if nodes:
            self._recompute_and_emit()

    # --- recompute -----------------------------------------------------------------------

    def _node_messages(self, node: Node) -> list[CodecMessage[Any]]:
        key = node.key
        messages = self._messages_by_node.get(key)
        if messages is None:
            messages = self._messages_by_node[key] = self._codec.get_messages(node.projection)
        if self._defer_steer is not None and isinstance(node, RunNode):
            run_id = node.run_id
            kept = [m for m in messages if not self._defer_steer(run_id, m.codec_message_id)]
            if len(kept) != len(messages):
                messages = kept + [m for m in messages if self._defer_steer(run_id, m.codec_message_id)]
        return messages

    def _extract(self, nodes: list[Node]) -> list[CodecMessage[Any]]:
        return self._branches.extract_messages(nodes, self._node_messages)

    def _flat_nodes(self) -> list[Node]:
        nodes = self._branches.visible_nodes()
        return [n for n in nodes if n.key not in self._withheld_keys] if self._withheld_keys else nodes

    def _snapshot(self, nodes: list[Node]) -> None:
        self._keys = [n.key for n in nodes]
        self._key_set = set(self._keys)
        self._take_projections(nodes)
        self._flatten(nodes)

    def _take_projections(self, nodes: list[Node]) -> None:
        self._projections = [n.projection for n in nodes]
        self._replacements_seen = self._tree.projection_replacements

    def _projections_current(self) -> bool:
        """Whether every shown node still has the projection it was flattened with: O(1) unless the
        tree replaced some projection since (then compare them all)."""
        if self._replacements_seen == self._tree.projection_replacements:
            return True
        if all(n.projection is p for n, p in zip(self._nodes, self._projections)):
            self._replacements_seen = self._tree.projection_replacements
            return True
        return False

    def _flatten(self, nodes: list[Node]) -> None:
        self._counts = {n.key: len(self._node_messages(n)) for n in nodes}
        self._messages = self._extract(nodes)[self._hidden:]

    def _emit_update(self) -> None:
        if not self._walking:
            self._emitter.emit("update")

    def _recompute_and_emit(self) -> None:
        self._nodes = self._flat_nodes()
        self._snapshot(self._nodes)
        self._emit_update()

    def recompute(self, only_if_changed: bool = False) -> None:
        """Recompute the visible branch (after a selection change) and announce it."""
        nodes = self._flat_nodes()
        if only_if_changed and not self._changed(nodes):
            return
        self._nodes = nodes
        self._snapshot(nodes)
        self._emit_update()

    def _changed(self, nodes: list[Node]) -> bool:
        if len(nodes) != len(self._keys):
            return True
        return any(n.key != self._keys[i] or n.projection is not self._projections[i] for i, n in enumerate(nodes))

    # --- tree events ---------------------------------------------------------------------

    def _on_output(self, event: OutputEvent) -> None:
        key = event.run_id if event.run_id is not None else event.input_codec_message_id
        if key is not None:
            self._messages_by_node.pop(key, None)
        if self._processing_history:
            return
        if (event.run_id is not None and event.run_id in self._key_set) or (
                event.input_codec_message_id is not None and event.input_codec_message_id in self._key_set):
            node = self._tree.get_node(key) if key is not None else None
            unchanged = node is not None and len(self._node_messages(node)) == self._counts.get(node.key) \
                and self._projections_current()
            if not unchanged:  # a message was added or a projection replaced: flatten again
                self._take_projections(self._nodes)
                self._flatten(self._nodes)
            # else the same message objects changed in place (e.g. a text delta): the list stands
            self._emit_update()

    def _on_tree_update(self) -> None:
        if self._processing_history:
            return
        self._branches.on_visible_nodes_changed(self._keys)
        self.recompute(only_if_changed=True)

    def _history_folding(self) -> bool:
        return self._hydrator is not None and self._hydrator.is_folding()

    def _on_ably_message(self, message: Message) -> None:
        if not self._emitter.has("ably_message") or self._history_folding():
            return
        headers = h.transport_headers(message)
        codec_message_id = headers.get(h.CODEC_MESSAGE_ID)
        run_id = headers.get(h.RUN_ID)
        if (not codec_message_id and not run_id) or (run_id and run_id in self._key_set):
            self._emitter.emit("ably_message", message)

    def _on_run(self, event: RunLifecycleEvent) -> None:
        if self._history_folding():
            return
        if event.run_id in self._key_set:
            self._emitter.emit("run", event)
        elif event.type == "start" and self._run_start_visible(event):
            self._key_set.add(event.run_id)
            self._emitter.emit("run", event)

    def _run_start_visible(self, event: RunLifecycleEvent) -> bool:
        if event.parent is None:
            return True
        parent = self._tree.get_node_by_codec_message_id(event.parent)
        return parent is None or parent.key in self._key_set

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for off in self._unsubs:
            off()
        self._unsubs.clear()
        self._emitter.emit("closed")
        self._emitter.clear()
        self._withheld_keys.clear()
        self._withheld.clear()
        self._messages_by_node.clear()
        self._hidden = 0
        if self._on_close is not None:
            self._on_close()

    @property
    def closed(self) -> bool:
        return self._closed
