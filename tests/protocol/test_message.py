"""Message helpers on the publish hot path: fast, and the same as the obvious versions."""

from __future__ import annotations

import dataclasses

import pytest

from broker.protocol.message import Message, data_size


def full_message() -> Message:
    values = {f.name: f"value-{f.name}" for f in dataclasses.fields(Message)}
    values.update(timestamp=17, action=5, extras={"ai": {"x": "y"}}, version={"serial": "s"})
    return Message(**values)


def test_copy_keeps_every_field_and_applies_changes() -> None:
    # copy() lists the fields positionally for speed: a field added to Message must be added there too.
    original = full_message()
    assert original.copy() == dataclasses.replace(original)
    assert original.copy(data="new", extras=None) == dataclasses.replace(original, data="new", extras=None)
    copied = original.copy()
    assert copied is not original and copied.extras is original.extras  # shallow, like replace


def test_copy_refuses_an_unknown_field() -> None:
    with pytest.raises(AttributeError):
        Message().copy(colour="red")


@pytest.mark.parametrize("data", ["", "plain ascii", "naïve café", "emoji 😀", "\udcff lone surrogate",
                                  b"\x00\xff bytes", None])
def test_data_size_is_the_utf8_length(data: str | bytes | None) -> None:
    expected = 0 if data is None else len(data) if isinstance(data, bytes) else len(
        data.encode("utf-8", "surrogatepass"))
    assert data_size(data) == expected
