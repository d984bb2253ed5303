"""The client's event fan-out: once-listeners inside a batch, and the fast batch path after them."""

from __future__ import annotations

from client.events import EventEmitter


def test_a_once_listener_takes_the_first_value_of_a_batch_and_later_batches_skip_it() -> None:
    emitter: EventEmitter[int] = EventEmitter()
    every: list[int] = []
    first: list[int] = []
    emitter.on(every.append)
    emitter.once(first.append)
    emitter.emit_many([1, 2, 3])
    emitter.emit_many([4, 5])
    assert first == [1]
    assert every == [1, 2, 3, 4, 5]


def test_a_once_with_a_predicate_waits_for_a_match_across_batches() -> None:
    emitter: EventEmitter[int] = EventEmitter()
    matched: list[int] = []
    emitter.once(matched.append, lambda v: v % 2 == 0)
    emitter.emit_many([1, 3])
    emitter.emit_many([5, 6, 8])
    assert matched == [6]
    emitter.once(matched.append)
    emitter.off(matched.append)
    emitter.emit_many([9])
    assert matched == [6]
