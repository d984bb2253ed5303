"""Decode-and-fold: route one wire message to the tree (lifecycle by name first, then the codec)."""

from __future__ import annotations

from ..codec import headers as h
from ..codec.decoder import version_serial
from ..codec.types import Decoder
from ..types import Message
from .headers import (
    RUN_LIFECYCLE,
    STEP_LIFECYCLE,
    parse_run_lifecycle,
    parse_step_lifecycle,
)
from .tree import Tree
from .types import RunLifecycleEvent


class WireApplier:
    """One decoder per tree: live deliveries and history walks share its stream trackers."""

    def __init__(self, tree: Tree, decoder: Decoder) -> None:
        self.tree = tree
        self._decoder = decoder

    def apply(self, message: Message, headers: dict[str, str] | None = None) -> RunLifecycleEvent | None:
        """`headers`: the message's transport tier, when the caller has parsed it already."""
        if headers is None:
            headers = h.transport_headers(message)
        name = message.name or ""
        if name in RUN_LIFECYCLE:
            event = parse_run_lifecycle(name, headers, message.serial, message.timestamp)
            if event is not None:
                self.tree.apply_run_lifecycle(event)
            return event
        if name in STEP_LIFECYCLE:
            step = parse_step_lifecycle(name, headers, message.serial, message.timestamp)
            if step is not None:
                self.tree.apply_step_lifecycle(step)
            return None
        decoded = self._decoder.decode(message)
        if decoded.inputs or decoded.outputs or headers.get(h.RUN_ID):
            self.tree.apply_message(decoded, headers, message.serial, message.timestamp, version_serial(message))
        return None

    def fold_and_emit(self, message: Message) -> RunLifecycleEvent | None:
        headers = h.transport_headers(message)
        event = self.apply(message, headers)
        self.tree.emit_ably_message(message, headers)
        return event
