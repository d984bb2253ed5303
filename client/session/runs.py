"""Run read-models: what a send handle (ClientRun) and an agent run share (JS `BaseRun`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..codec.types import Codec
from ..errors import AblyError
from .tree import Tree
from .types import InputNode, RunStatus


class BaseRun:
    """Status, error and messages of one run, read live from the tree."""

    def __init__(self, get_run_id: Callable[[], str], get_anchor: Callable[[], str | None],
                 get_tree: Callable[[], Tree], codec: Codec[Any, Any]) -> None:
        self._get_run_id = get_run_id
        self._get_anchor = get_anchor
        self._get_tree = get_tree
        self._codec = codec

    @property
    def run_id(self) -> str:
        return self._get_run_id()

    @property
    def status(self) -> RunStatus:
        """`active` until the tree knows better (also before the run-start arrives)."""
        node = self._get_tree().get_run_node(self.run_id)
        return node.state.status if node is not None else "active"

    @property
    def error(self) -> AblyError | None:
        node = self._get_tree().get_run_node(self.run_id)
        return node.state.error if node is not None and node.state.status == "error" else None

    @property
    def messages(self) -> list[Any]:
        """The run's prompt (if any) then its output, de-duplicated by codec-message-id."""
        tree = self._get_tree()
        seen: set[str] = set()
        out: list[Any] = []

        def add(projection: Any) -> None:
            for m in self._codec.get_messages(projection):
                if m.codec_message_id not in seen:
                    seen.add(m.codec_message_id)
                    out.append(m.message)

        node = tree.get_run_node(self.run_id)
        anchor = node.parent_codec_message_id if node is not None and node.parent_codec_message_id is not None \
            else self._get_anchor()
        prompt = tree.get_node_by_codec_message_id(anchor) if anchor is not None else None
        if isinstance(prompt, InputNode):
            add(prompt.projection)
        if node is not None:
            add(node.projection)
        return out
