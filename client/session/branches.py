"""Branch sources: which nodes a view shows and how they flatten into messages.

`NavigableBranchSource` backs client views: per-view selections for edit groups (user / auto /
pinned) and regenerate groups (user / auto / pending), resolved against the tree's sibling
groups. `LeafBranchSource` backs the agent's run view: the ancestor chain of the run's trigger
plus the run, skipping turns whose run did not complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..codec.types import Codec, CodecMessage
from .tree import Tree
from .types import BranchHandle, InputNode, Node, RunNode

GetMessages = Callable[[Node], list[CodecMessage[Any]]]


def _by_start(runs: list[RunNode]) -> list[RunNode]:
    return sorted(runs, key=lambda r: r.start_serial if r.start_serial is not None else "\uffff")


def collect_messages(nodes: list[Node], get_messages: GetMessages,
                     regenerators: Callable[[str, str], list[RunNode]],
                     selected: Callable[[str, str, list[RunNode]], str]) -> list[CodecMessage[Any]]:
    """Flatten visible nodes; a non-head message that was regenerated is replaced, with the rest of
    its run, by the selected regenerator run."""

    def emit(node: Node, out: list[CodecMessage[Any]]) -> None:
        own = get_messages(node)
        if not isinstance(node, RunNode):
            out.extend(own)
            return
        for i, m in enumerate(own):
            if i > 0:
                runs = regenerators(m.codec_message_id, own[i - 1].codec_message_id)
                if runs:
                    chosen_key = selected(m.codec_message_id, node.run_id, runs)
                    if chosen_key != node.run_id:
                        chosen = next((r for r in runs if r.run_id == chosen_key), None)
                        if chosen is not None:
                            emit(chosen, out)
                            return
            out.append(m)

    nested: set[str] = set()
    for node in nodes:
        if isinstance(node, RunNode):
            own = get_messages(node)
            for i in range(1, len(own)):
                nested.update(r.run_id for r in regenerators(own[i].codec_message_id, own[i - 1].codec_message_id))
    out: list[CodecMessage[Any]] = []
    for node in nodes:
        if isinstance(node, RunNode) and node.run_id in nested:
            continue
        emit(node, out)
    return out


def tail_split_index(nodes: list[Node], target: int, get_messages: GetMessages) -> int:
    """The index from which the last nodes hold at least `target` messages (0 if they never do)."""
    count = 0
    for i in range(len(nodes) - 1, -1, -1):
        count += len(get_messages(nodes[i]))
        if count >= target:
            return i
    return 0


@dataclass(slots=True)
class _Selection:
    kind: Literal["user", "auto", "pinned", "pending"]
    key: str  # the selected node key, or for "pending" the carrier input's codec-message-id


@dataclass(frozen=True, slots=True)
class _Member:
    node_key: str
    representative: str  # codec-message-id of the member's head message


@dataclass(frozen=True, slots=True)
class _BranchPoint:
    kind: Literal["fork-of", "regen", "non-head-regen"]
    root: str
    members: list[_Member]


class NavigableBranchSource:
    def __init__(self, tree: Tree, codec: Codec[Any, Any]) -> None:
        self._tree = tree
        self._codec = codec
        self._edits: dict[str, _Selection] = {}
        self._regens: dict[str, _Selection] = {}
        self._non_head: dict[str, _Selection] = {}

    def visible_nodes(self) -> list[Node]:
        resolved = {root: sel.key for root, sel in self._edits.items()}
        resolved.update({root: sel.key for root, sel in self._regens.items() if sel.kind != "pending"})
        return self._tree.visible_nodes(resolved)

    def extract_messages(self, nodes: list[Node], get_messages: GetMessages | None = None) -> list[CodecMessage[Any]]:
        return collect_messages(nodes, get_messages or (lambda n: self._codec.get_messages(n.projection)),
                                self._non_head_regenerators, self._selected_non_head)

    def selected_reply_run(self, input_codec_message_id: str) -> RunNode | None:
        replies = self._tree.get_reply_runs(input_codec_message_id)
        if len(replies) <= 1:
            return replies[0] if replies else None
        sel = self._regens.get(self._tree.get_group_root(replies[0].run_id))
        if sel is not None and sel.kind != "pending":
            chosen = next((r for r in replies if r.run_id == sel.key), None)
            if chosen is not None:
                return chosen
        return _by_start(replies)[-1]

    def on_visible_nodes_changed(self, previous_keys: list[str]) -> None:
        self._pin_edits(previous_keys)
        self._resolve_pending_regens()
        self._resolve_pending_non_head()

    def clear(self) -> None:
        self._edits.clear()
        self._regens.clear()
        self._non_head.clear()

    def branch_selection(self, codec_message_id: str, select: Callable[[int], None]) -> BranchHandle[Any]:
        branch = self._branch_point(codec_message_id)
        if branch is not None:
            siblings = []
            for member in branch.members:
                owner = self._tree.get_node_by_codec_message_id(member.representative)
                if owner is None:
                    continue
                found = next((m for m in self._codec.get_messages(owner.projection)
                              if m.codec_message_id == member.representative), None)
                if found is not None:
                    siblings.append(found.message)
            if siblings:
                index = max(0, min(self._selected_index(branch), len(siblings) - 1))
                return BranchHandle(len(siblings) > 1, siblings, index, siblings[index], select)
        owner = self._tree.get_node_by_codec_message_id(codec_message_id)
        if owner is not None:
            found = next((m for m in self._codec.get_messages(owner.projection)
                          if m.codec_message_id == codec_message_id), None)
            if found is not None:
                return BranchHandle(False, [found.message], 0, found.message, select)
        return BranchHandle(False, [], 0, None, select)

    def record_selection(self, codec_message_id: str, index: int) -> bool:
        branch = self._branch_point(codec_message_id)
        if branch is None:
            return False
        member = branch.members[max(0, min(index, len(branch.members) - 1))]
        table = {"fork-of": self._edits, "non-head-regen": self._non_head, "regen": self._regens}[branch.kind]
        table[branch.root] = _Selection("user", member.node_key)
        return True

    def apply_fork_auto_select(self, input_codec_message_id: str) -> None:
        """After this view edits a prompt, show the new version here."""
        self._edits[self._tree.get_group_root(input_codec_message_id)] = _Selection("auto", input_codec_message_id)

    def apply_regenerate_auto_select(self, carrier: str, anchor: str) -> bool:
        """After this view regenerates, select the new run once it appears."""
        anchor_run = self._run_of(anchor)
        if anchor_run is None:
            return False
        head = self._codec.get_messages(anchor_run.projection)
        if not head or head[0].codec_message_id != anchor:
            self._non_head[anchor] = _Selection("pending", carrier)
            self._resolve_pending_non_head()
            return True
        self._regens[self._tree.get_group_root(anchor_run.run_id)] = _Selection("pending", carrier)
        self._resolve_pending_regens()
        return True

    # --- internals -----------------------------------------------------------------------

    def _run_of(self, codec_message_id: str) -> RunNode | None:
        node = self._tree.get_node_by_codec_message_id(codec_message_id)
        return node if isinstance(node, RunNode) else None

    def _non_head_regenerators(self, target: str, predecessor: str) -> list[RunNode]:
        return _by_start([r for r in self._tree.get_reply_runs(predecessor)
                          if r.regenerates_codec_message_id == target])

    def _selected_non_head(self, target: str, owner_run_id: str, regenerators: list[RunNode]) -> str:
        sel = self._non_head.get(target)
        if sel is not None and sel.kind != "pending" and sel.key in [owner_run_id, *(r.run_id for r in regenerators)]:
            return sel.key
        return regenerators[-1].run_id if regenerators else owner_run_id

    def _pin_edits(self, previous_keys: list[str]) -> None:
        """Another device edited a prompt this view shows: keep showing the version it showed."""
        for key in previous_keys:
            if not isinstance(self._tree.get_node(key), InputNode):
                continue
            if len(self._tree.get_sibling_nodes(key)) <= 1:
                continue
            root = self._tree.get_group_root(key)
            if root not in self._edits:
                self._edits[root] = _Selection("pinned", key)

    def _resolve_pending_regens(self) -> None:
        for root, sel in list(self._regens.items()):
            if sel.kind == "user":
                continue
            group = [n for n in self._tree.get_sibling_nodes(root) if isinstance(n, RunNode)]
            if len(group) > 1:
                self._regens[root] = _Selection("auto", group[-1].run_id)

    def _resolve_pending_non_head(self) -> None:
        for anchor, sel in list(self._non_head.items()):
            if sel.kind == "user":
                continue
            owner = self._run_of(anchor)
            if owner is None:
                continue
            msgs = self._codec.get_messages(owner.projection)
            idx = next((i for i, m in enumerate(msgs) if m.codec_message_id == anchor), -1)
            if idx <= 0:
                continue
            runs = self._non_head_regenerators(anchor, msgs[idx - 1].codec_message_id)
            if runs:
                self._non_head[anchor] = _Selection("auto", runs[-1].run_id)

    def _selected_index(self, branch: _BranchPoint) -> int:
        table = {"fork-of": self._edits, "non-head-regen": self._non_head, "regen": self._regens}[branch.kind]
        sel = table.get(branch.root)
        if sel is None or sel.kind == "pending":
            return len(branch.members) - 1
        idx = next((i for i, m in enumerate(branch.members) if m.node_key == sel.key), -1)
        return len(branch.members) - 1 if idx == -1 else idx

    def _head_members(self, nodes: list[Node]) -> list[_Member]:
        members = []
        for n in nodes:
            msgs = self._codec.get_messages(n.projection)
            if msgs:
                members.append(_Member(n.key, msgs[0].codec_message_id))
        return members

    def _branch_point(self, codec_message_id: str) -> _BranchPoint | None:
        node = self._tree.get_node_by_codec_message_id(codec_message_id)
        if node is None:
            return None
        if isinstance(node, InputNode):
            siblings = self._tree.get_sibling_nodes(node.codec_message_id)
            if len(siblings) > 1:
                return _BranchPoint("fork-of", self._tree.get_group_root(node.codec_message_id),
                                    self._head_members(siblings))
            return None
        own = self._codec.get_messages(node.projection)
        non_head = self._non_head_point(node, own, codec_message_id)
        if non_head is not None:
            return non_head
        siblings = self._tree.get_sibling_nodes(node.run_id)
        if len(siblings) > 1 and own and own[0].codec_message_id == codec_message_id:
            return _BranchPoint("regen", self._tree.get_group_root(node.run_id), self._head_members(siblings))
        return None

    def _non_head_point(self, node: RunNode, own: list[CodecMessage[Any]], codec_message_id: str) -> _BranchPoint | None:
        is_head = bool(own) and own[0].codec_message_id == codec_message_id
        if is_head and node.regenerates_codec_message_id is not None:
            anchor = node.regenerates_codec_message_id
            owner = self._run_of(anchor)
            if owner is not None:
                msgs = self._codec.get_messages(owner.projection)
                idx = next((i for i, m in enumerate(msgs) if m.codec_message_id == anchor), -1)
                if idx > 0:
                    return self._non_head_group(anchor, owner.run_id, msgs[idx - 1].codec_message_id)
            return None
        idx = next((i for i, m in enumerate(own) if m.codec_message_id == codec_message_id), -1)
        if idx <= 0:
            return None
        return self._non_head_group(codec_message_id, node.run_id, own[idx - 1].codec_message_id)

    def _non_head_group(self, anchor: str, owner_run_id: str, predecessor: str) -> _BranchPoint | None:
        runs = self._non_head_regenerators(anchor, predecessor)
        if not runs:
            return None
        members = [_Member(owner_run_id, anchor)]
        for r in runs:
            head = self._codec.get_messages(r.projection)
            if head:
                members.append(_Member(r.run_id, head[0].codec_message_id))
        return _BranchPoint("non-head-regen", anchor, members)


class LeafBranchSource:
    """The agent's view of one run: root … trigger, then the run; unfinished earlier turns are left out."""

    def __init__(self, get_tree: Callable[[], Tree], codec: Codec[Any, Any]) -> None:
        self._get_tree = get_tree
        self._codec = codec
        self._pin: tuple[str | None, str, str | None] | None = None
        self._notify: Callable[[], None] | None = None

    def set_pin(self, anchor: str | None, run_id: str, regenerate_target: str | None) -> None:
        self._pin = (anchor, run_id, regenerate_target)
        if self._notify is not None:
            self._notify()

    def set_notify(self, notify: Callable[[], None]) -> None:
        self._notify = notify

    def _chain(self) -> list[Node]:
        if self._pin is None:
            return []
        anchor, run_id, _ = self._pin
        tree = self._get_tree()
        chain: list[Node] = []
        current = tree.get_node_by_codec_message_id(anchor) if anchor is not None else None
        seen: set[str] = set()
        while current is not None and current.key not in seen:
            seen.add(current.key)
            chain.insert(0, current)
            parent = current.parent_codec_message_id
            current = tree.get_node_by_codec_message_id(parent) if parent is not None else None
        run = tree.get_run_node(run_id)
        if run is not None and not any(isinstance(n, RunNode) and n.run_id == run_id for n in chain):
            chain.append(run)
        return chain

    def visible_nodes(self) -> list[Node]:
        if self._pin is None:
            return []
        anchor, run_id, _ = self._pin
        anchor_node = self._get_tree().get_node_by_codec_message_id(anchor) if anchor is not None else None
        leaf_run = anchor_node.run_id if isinstance(anchor_node, RunNode) else None
        dropped: set[str] = set()
        kept = []
        for node in self._chain():
            if isinstance(node, RunNode) and node.run_id not in (run_id, leaf_run) \
                    and node.state.status != "complete":
                if node.parent_codec_message_id is not None:
                    dropped.add(node.parent_codec_message_id)
                continue
            kept.append(node)
        return [n for n in kept if not (isinstance(n, InputNode) and n.codec_message_id in dropped)]

    def extract_messages(self, nodes: list[Node], get_messages: GetMessages | None = None) -> list[CodecMessage[Any]]:
        target = self._pin[2] if self._pin is not None else None
        get = get_messages or (lambda n: self._codec.get_messages(n.projection))
        out: list[CodecMessage[Any]] = []
        for node in nodes:
            for m in get(node):
                if target is not None and m.codec_message_id == target:
                    return out
                out.append(m)
        return out

    def selected_reply_run(self, input_codec_message_id: str) -> RunNode | None:
        replies = self._get_tree().get_reply_runs(input_codec_message_id)
        if len(replies) <= 1:
            return replies[0] if replies else None
        on_branch = {n.key for n in self._chain()}
        return next((r for r in replies if r.run_id in on_branch), None) or _by_start(replies)[-1]

    def on_visible_nodes_changed(self, previous_keys: list[str]) -> None:
        """The agent's view has no selections to maintain."""
