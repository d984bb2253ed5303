"""The codec toolkit on its own: define-time validation, header fields, the lifecycle tracker,
encoder recovery failure, and a custom codec (plain text) round-tripping through the wire."""

from __future__ import annotations

from typing import Any

import pytest

from client.codec import (
    AitError,
    CodecEvent,
    EncoderOptions,
    ErrorCode,
    LifecycleTracker,
    Phase,
    Reducer,
    ReducerMeta,
    WriteOptions,
    bool_field,
    define_codec,
    enum_field,
    json_field,
    plain_text_codec,
    str_field,
    user_text,
)
from client.codec.inputs import event as input_event
from client.codec.outputs import event, stream
from client.errors import AblyError
from client.types import Message, UpdateDeleteResult
from tests.session.wire import RecordingWriter, deliveries, inbound

NOOP = Reducer(lambda: None, lambda state, e, m: state, lambda p: [])


def text_stream(kind: str = "text", start: str = "text-start") -> Any:
    return stream(kind, stream_id=lambda c: c["id"], fields=[str_field("id")], start=start, delta=f"{kind}-delta",
                  delta_field="delta", end=f"{kind}-end")


@pytest.mark.parametrize("outputs, inputs, message", [
    ([event("a"), event("a")], [], "'a' is declared by both"),
    ([text_stream(), event("text")], [], "'text' is declared by both"),
    ([event("a", fields=[str_field("kind")])], [], "reserved header key 'kind'"),
    ([text_stream(), text_stream("other", start="text-delta")], [], "collides with the delta/end phase"),
    ([], [input_event("x"), input_event("x")], "'x' is declared by both"),
])
def test_define_codec_rejects_ambiguous_tables(outputs: list[Any], inputs: list[Any], message: str) -> None:
    with pytest.raises(AitError) as caught:
        define_codec(reducer=NOOP, outputs=outputs, inputs=inputs)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT and message in caught.value.message


def test_header_fields_read_and_write_symmetrically() -> None:
    headers: dict[str, str] = {}
    flag, meta, reason = bool_field("flag"), json_field("meta"), enum_field("reason", ("stop", "length"), "stop")
    flag.write(headers, True)
    meta.write(headers, {"a": [1, "é"]})
    meta.write(headers, None)  # an absent value is never written as "null"
    reason.write(headers, 7)  # the wrong type is skipped
    assert headers == {"flag": "true", "meta": '{"a":[1,"é"]}'}
    assert (flag.read(headers), meta.read(headers), reason.read(headers)) == (True, {"a": [1, "é"]}, "stop")
    assert flag.read({"flag": "yes"}) is False and meta.read({"meta": "{bad"}) is None
    assert reason.read({"reason": "length"}) == "length" and reason.read({"reason": "other"}) == "stop"


def test_lifecycle_tracker_synthesises_each_missing_phase_once_per_scope() -> None:
    tracker = LifecycleTracker([Phase("start", lambda ctx: [{"type": "start", "id": ctx.get("id")}]),
                                Phase("step", lambda ctx: [{"type": "step"}])])
    assert tracker.ensure_phases("r1", {"id": "m"}) == [{"type": "start", "id": "m"}, {"type": "step"}]
    assert tracker.ensure_phases("r1", {}) == []
    tracker.reset_phase("r1", "step")
    assert tracker.ensure_phases("r1", {}) == [{"type": "step"}]
    tracker.mark_emitted("r2", "start")
    assert tracker.ensure_phases("r2", {}) == [{"type": "step"}]
    tracker.clear_scope("r1")
    assert len(tracker.ensure_phases("r1", {})) == 2


class BrokenWriter(RecordingWriter):
    """Refuses every append and every update."""

    async def append_message(self, message: Message) -> UpdateDeleteResult:
        raise AblyError(50000, 500, "no appends today")

    async def update_message(self, message: Message) -> UpdateDeleteResult:
        raise AblyError(50001, 500, "no updates either")


async def test_a_failed_recovery_surfaces_as_encoder_recovery_failed() -> None:
    encoder = plain_text_codec().create_encoder(BrokenWriter())
    await encoder.publish_output({"type": "text-start", "id": "t"})
    await encoder.publish_output({"type": "text-delta", "id": "t", "delta": "x"})
    with pytest.raises(AitError) as caught:
        await encoder.publish_output({"type": "text-end", "id": "t"})
    assert caught.value.code == ErrorCode.ENCODER_RECOVERY_FAILED and caught.value.cause is not None
    assert caught.value.cause.code == 50001  # type: ignore[attr-defined]


async def test_plain_text_codec_round_trips_through_the_wire() -> None:
    codec = plain_text_codec()
    writer = RecordingWriter()
    encoder = codec.create_encoder(writer, EncoderOptions({"run-id": "R"}))
    await encoder.publish_input(user_text("hi"), WriteOptions({"role": "user"}, "U"))
    await encoder.publish_output({"type": "text-start", "id": "t"}, WriteOptions(message_id="A"))
    for word in ("hello ", "there"):
        await encoder.publish_output({"type": "text-delta", "id": "t", "delta": word})
    await encoder.publish_output({"type": "text-end", "id": "t"})
    await encoder.publish_output({"type": "reply", "text": "!"}, WriteOptions(message_id="A"))
    await encoder.close()
    decoder, projection = codec.create_decoder(), codec.init()
    for delivery in deliveries(writer.log):
        message = inbound(delivery)
        cmid = delivery["extras"]["ai"]["transport"].get("codec-message-id")
        for e in decoder.decode(message).events():
            projection = codec.fold(projection, CodecEvent(e.direction, e.event), ReducerMeta(message.serial or "",
                                                                                               cmid))
    assert [(m.codec_message_id, m.message) for m in codec.get_messages(projection)] == [
        ("U", {"role": "user", "text": "hi"}), ("A", {"role": "assistant", "text": "hello there!"})]
    appends = [e for e in writer.log if e["op"] == "append"]
    assert all(a["message"]["extras"]["ai"]["transport"]["run-id"] == "R" for a in appends)
    assert appends[-1]["message"]["extras"]["ai"]["transport"]["status"] == "complete"
