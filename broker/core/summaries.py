"""Annotation summaries: pure folds of a message's annotations, one state per annotation type.

Each method keeps what its summary needs and renders Ably's summary shape:

  total.v1     {"total": n}                                      every create counts, a delete takes one off
  flag.v1      {"total", "clientIds", "clipped"}                 each client at most once per type
  distinct.v1  {name: {"total", "clientIds", "clipped"}}         each client at most once per name
  unique.v1    {name: {"total", "clientIds", "clipped"}}         each client on one name at a time
  multiple.v1  {name: {"total", "clientIds": {id: n}, "totalUnidentified", "clipped", "totalClientIds"}}

For multiple.v1 ably-js (`SummaryClientIdCounts`) and the other SDKs read the per-client counts
from `clientIds`; Ably's docs page shows the same map as `clientCounts`. We follow the SDKs.
A delete without a name removes the client from every name of its type. Client lists are
clipped at MAX_CLIENT_IDS so a popular message's summary stays a small frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..protocol.annotation import Annotation, AnnotationAction, method_of

MAX_CLIENT_IDS = 100


def _client_list(clients: dict[str, None]) -> dict[str, Any]:
    ids = list(clients)
    return {"total": len(ids), "clientIds": ids[:MAX_CLIENT_IDS], "clipped": len(ids) > MAX_CLIENT_IDS}


@dataclass(slots=True)
class _Counts:
    clients: dict[str, int] = field(default_factory=dict)
    unidentified: int = 0

    def render(self) -> dict[str, Any]:
        ids = list(self.clients.items())
        return {"total": sum(self.clients.values()) + self.unidentified,
                "clientIds": dict(ids[:MAX_CLIENT_IDS]), "totalUnidentified": self.unidentified,
                "clipped": len(ids) > MAX_CLIENT_IDS, "totalClientIds": len(ids)}


class TypeSummary:
    """The fold of one annotation type on one message."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.total = 0
        self.clients: dict[str, None] = {}  # flag.v1
        self.names: dict[str, dict[str, None]] = {}  # distinct.v1, unique.v1
        self.counts: dict[str, _Counts] = {}  # multiple.v1

    def apply(self, a: Annotation) -> None:
        create = a.action == AnnotationAction.CREATE
        client, name = a.client_id, a.name or ""
        if self.method == "total.v1":
            self.total = self.total + 1 if create else max(0, self.total - 1)
        elif self.method == "flag.v1" and client is not None:
            if create:
                self.clients[client] = None
            else:
                self.clients.pop(client, None)
        elif self.method in ("distinct.v1", "unique.v1") and client is not None:
            if create:
                if self.method == "unique.v1":
                    self._drop(client, None, keep=name)
                self.names.setdefault(name, {})[client] = None
            else:
                self._drop(client, a.name)
        elif self.method == "multiple.v1":
            self._count(a, create, client, name)

    def _drop(self, client: str, name: str | None, keep: str | None = None) -> None:
        for each in [name] if name is not None else list(self.names):
            if each == keep or each not in self.names:
                continue
            self.names[each].pop(client, None)
            if not self.names[each]:
                del self.names[each]

    def _count(self, a: Annotation, create: bool, client: str | None, name: str) -> None:
        if create:
            counts = self.counts.setdefault(name, _Counts())
            step = a.count if a.count is not None else 1
            if client is None:
                counts.unidentified += step
            else:
                counts.clients[client] = counts.clients.get(client, 0) + step
            return
        if client is None:
            return  # an anonymous contribution cannot be told apart from the others
        for each in [a.name] if a.name is not None else list(self.counts):
            counts = self.counts.get(each)
            if counts is not None:
                counts.clients.pop(client, None)
                if not counts.clients and not counts.unidentified:
                    del self.counts[each]

    def render(self) -> dict[str, Any]:
        if self.method == "total.v1":
            return {"total": self.total}
        if self.method == "flag.v1":
            return _client_list(self.clients)
        if self.method == "multiple.v1":
            return {name: counts.render() for name, counts in self.counts.items()}
        return {name: _client_list(clients) for name, clients in self.names.items()}


class MessageSummary:
    """Every annotation type's fold for one message, and the serial of the last annotation in it."""

    def __init__(self) -> None:
        self.types: dict[str, TypeSummary] = {}
        self.last_serial = ""

    def apply(self, annotation: Annotation) -> bool:
        """Fold one annotation in; False (and no change) for one already folded."""
        serial = annotation.serial or ""
        if serial and serial <= self.last_serial:
            return False
        self.last_serial = max(self.last_serial, serial)
        kind = annotation.type
        summary = self.types.get(kind)
        if summary is None:
            summary = self.types[kind] = TypeSummary(method_of(kind))
        summary.apply(annotation)
        return True

    def render(self) -> dict[str, Any]:
        return {kind: summary.render() for kind, summary in self.types.items()}


def summarise(annotations: Iterable[Annotation]) -> dict[str, Any]:
    """The summary of `annotations`, in serial order."""
    state = MessageSummary()
    for annotation in annotations:
        state.apply(annotation)
    return state.render()
