"""ClientView: a View that can also navigate branches and write (send, regenerate, edit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..codec.errors import AitError, ErrorCode
from ..codec.types import Codec, Event
from .branches import NavigableBranchSource
from .history import HistoryHydrator
from .tree import Tree
from .types import BranchHandle, Node, RunNode, SendOptions
from .view import View

if TYPE_CHECKING:
    from .client_session import ClientRun

SendDelegate = Callable[[list[Event], SendOptions | None, str | None], Awaitable["ClientRun"]]


class ClientView(View):
    """JS `ClientView`. Each view keeps its own branch selections."""

    def __init__(self, tree: Tree, codec: Codec[Any, Any], hydrator: HistoryHydrator | None, send: SendDelegate,
                 on_close: Callable[[], None] | None = None) -> None:
        self._navigable = NavigableBranchSource(tree, codec)
        self._send = send
        super().__init__(tree, codec, hydrator, self._navigable, on_close)

    def branch_selection(self, codec_message_id: str) -> BranchHandle[Any]:
        """The siblings at this message's branch point; `select(i)` switches this view only."""
        def select(index: int) -> None:
            if self._navigable.record_selection(codec_message_id, index):
                self.recompute()

        return self._navigable.branch_selection(codec_message_id, select)

    def _check_open(self, verb: str) -> None:
        if self.closed:
            raise AitError(ErrorCode.SESSION_CLOSED, 400, f"unable to {verb}; view is closed")

    async def send(self, inputs: Event | Sequence[Event], options: SendOptions | None = None) -> ClientRun:
        """Publish input(s) on `ai-input`; returns once published (it does not wait for the agent)."""
        self._check_open("send")
        batch = [inputs] if isinstance(inputs, dict) else list(inputs)
        messages = self.get_messages()
        run = await self._send(batch, options, messages[-1].codec_message_id if messages else None)
        if options is not None and options.fork_of:
            self._navigable.apply_fork_auto_select(run.input_codec_message_id)
            self.recompute()
        return run

    async def regenerate(self, message_id: str, options: SendOptions | None = None) -> ClientRun:
        """Ask the agent for a new version of an assistant message (a sibling branch)."""
        self._check_open("regenerate")
        node = self._tree.get_node_by_codec_message_id(message_id)
        if not isinstance(node, RunNode):
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to regenerate; message not found in tree: "
                                                            f"{message_id}")
        parent = self._predecessor(node, message_id)
        if not parent:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to regenerate; parent user message not found "
                                                            f"for {message_id}")
        anchor = message_id
        if node.regenerates_codec_message_id is not None:
            head = self._codec.get_messages(node.projection)
            if head and head[0].codec_message_id == message_id:
                anchor = node.regenerates_codec_message_id  # regenerating a regenerate targets the original
        send_options = SendOptions(**{**_fields(options), "parent": parent})
        run = await self._send([self._codec.create_regenerate(anchor, parent)], send_options, parent)
        if self._navigable.apply_regenerate_auto_select(run.input_codec_message_id, anchor):
            self.recompute(only_if_changed=True)
        return run

    async def edit(self, message_id: str, inputs: Event | Sequence[Event],
                   options: SendOptions | None = None) -> ClientRun:
        """A new version of a user prompt (`fork-of`), selected in this view."""
        self._check_open("edit")
        node = self._tree.get_node_by_codec_message_id(message_id)
        if node is None:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400, f"unable to edit; message not found in tree: {message_id}")
        parent = self._predecessor(node, message_id)
        return await self.send(inputs, SendOptions(**{**_fields(options), "fork_of": message_id, "parent": parent}))

    def close(self) -> None:
        self._navigable.clear()
        super().close()

    def _predecessor(self, node: Node, message_id: str) -> str | None:
        visible = self.get_messages()
        index = next((i for i, m in enumerate(visible) if m.codec_message_id == message_id), -1)
        if index > 0:
            return visible[index - 1].codec_message_id
        if index == 0:
            return None
        own = self._codec.get_messages(node.projection)
        index = next((i for i, m in enumerate(own) if m.codec_message_id == message_id), -1)
        if index > 0:
            return own[index - 1].codec_message_id
        if index == 0 and node.parent_codec_message_id is not None:
            parent = self._tree.get_node_by_codec_message_id(node.parent_codec_message_id)
            if parent is not None:
                messages = self._codec.get_messages(parent.projection)
                return messages[-1].codec_message_id if messages else None
        return None


def _fields(options: SendOptions | None) -> dict[str, Any]:
    if options is None:
        return {}
    return {"fork_of": options.fork_of, "parent": options.parent, "run_id": options.run_id, "role": options.role,
            "supersedes": options.supersedes}
