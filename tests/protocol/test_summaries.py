"""Annotation summaries: the pure folds behind message.summary, one test per method."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from broker.core.summaries import MAX_CLIENT_IDS, MessageSummary, summarise
from broker.protocol.annotation import Annotation, AnnotationAction
from broker.protocol.errors import AblyError
from broker.protocol.wire import Format

_serials = count(1)


def ann(kind: str, client: str | None = None, name: str | None = None, *, delete: bool = False,
        amount: int | None = None) -> Annotation:
    return Annotation(type=kind, message_serial="m", name=name, client_id=client, count=amount,
                      action=AnnotationAction.DELETE if delete else AnnotationAction.CREATE,
                      serial=f"{next(_serials):020d}")


def test_total_counts_every_create_and_a_delete_takes_one_off() -> None:
    t = "metric:total.v1"
    assert summarise([ann(t), ann(t, "a"), ann(t, "a"), ann(t, "a", delete=True)]) == {t: {"total": 2}}
    assert summarise([ann(t, delete=True)]) == {t: {"total": 0}}, "never below zero"


def test_flag_counts_each_client_once() -> None:
    t = "receipt:flag.v1"
    assert summarise([ann(t, "a"), ann(t, "b"), ann(t, "a"), ann(t, "b", delete=True)]) == \
        {t: {"total": 1, "clientIds": ["a"], "clipped": False}}


def test_distinct_counts_each_client_once_per_name() -> None:
    t = "reaction:distinct.v1"
    out = summarise([ann(t, "a", "up"), ann(t, "a", "up"), ann(t, "b", "up"), ann(t, "a", "heart"),
                     ann(t, "b", "up", delete=True)])
    assert out == {t: {"up": {"total": 1, "clientIds": ["a"], "clipped": False},
                       "heart": {"total": 1, "clientIds": ["a"], "clipped": False}}}
    assert summarise([ann(t, "a", "up"), ann(t, "a", "up", delete=True)]) == {t: {}}, "an emptied name goes"
    assert summarise([ann(t, "a", "up"), ann(t, "a", "x"), ann(t, "a", delete=True)]) == {t: {}}, \
        "a delete without a name removes the client from every name"


def test_unique_moves_a_client_to_its_latest_name() -> None:
    t = "vote:unique.v1"
    out = summarise([ann(t, "a", "yes"), ann(t, "b", "yes"), ann(t, "a", "no")])
    assert out == {t: {"yes": {"total": 1, "clientIds": ["b"], "clipped": False},
                       "no": {"total": 1, "clientIds": ["a"], "clipped": False}}}


def test_multiple_sums_counts_per_client_and_anonymous() -> None:
    t = "rating:multiple.v1"
    out = summarise([ann(t, "a", "stars", amount=3), ann(t, "a", "stars"), ann(t, None, "stars", amount=2),
                     ann(t, "b", "stars", amount=5), ann(t, "b", "stars", delete=True)])
    assert out == {t: {"stars": {"total": 6, "clientIds": {"a": 4}, "totalUnidentified": 2, "clipped": False,
                                 "totalClientIds": 1}}}


def test_types_are_summarised_separately() -> None:
    out = summarise([ann("a:flag.v1", "x"), ann("b:flag.v1", "y"), ann("a:total.v1")])
    assert set(out) == {"a:flag.v1", "b:flag.v1", "a:total.v1"}


def test_client_lists_are_clipped_but_totals_are_not() -> None:
    t = "receipt:flag.v1"
    out = summarise([ann(t, f"c{i}") for i in range(MAX_CLIENT_IDS + 5)])[t]
    assert out["total"] == MAX_CLIENT_IDS + 5 and len(out["clientIds"]) == MAX_CLIENT_IDS and out["clipped"]


def test_an_annotation_is_folded_once() -> None:
    state = MessageSummary()
    first = ann("metric:total.v1")
    assert state.apply(first) and not state.apply(first)
    assert state.render() == {"metric:total.v1": {"total": 1}}


@pytest.mark.parametrize("obj, code", [
    ({"messageSerial": "m"}, 40003),
    ({"type": "reaction", "messageSerial": "m"}, 40003),
    ({"type": "reaction:sum.v9", "messageSerial": "m"}, 40003),
    ({"type": "reaction:flag.v1"}, 40003),
    ({"type": "reaction:flag.v1", "messageSerial": "m", "action": 7}, 40003),
    ({"type": "reaction:multiple.v1", "messageSerial": "m", "count": -1}, 40003),
    ({"type": "reaction:flag.v1", "messageSerial": "m", "extras": []}, 40000),
    ("not an object", 40000),
])
def test_bad_annotations_are_refused(obj: Any, code: int) -> None:
    with pytest.raises(AblyError) as err:
        Annotation.from_wire(obj, Format.JSON)
    assert err.value.code == code


def test_an_annotation_survives_its_log_entry() -> None:
    a = Annotation.from_wire({"type": "r:multiple.v1", "messageSerial": "m", "name": "n", "count": 2,
                              "data": {"k": 1}, "extras": {"e": 1}, "action": 1}, Format.JSON)
    a.client_id, a.id = "c", "id1"
    entry = a.to_entry()
    entry.serial, entry.timestamp = "s", 5
    back = Annotation.from_entry(entry)
    assert back.to_wire(Format.JSON) == {**a.to_wire(Format.JSON), "serial": "s", "timestamp": 5}
