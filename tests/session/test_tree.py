"""The conversation tree and views, fed with wire messages as the real encoders produce them.

No channel: deliveries are folded straight into a tree, exactly as a session's subscription would.
"""

from __future__ import annotations

import copy
import gc
from typing import Any

from client.codec import CodecMessage, DecodedMessage
from client.codec import headers as h
from client.session.applier import WireApplier
from client.session.client_view import ClientView
from client.session.headers import transport_headers
from client.session.tree import Tree
from client.session.types import RunNode
from tests.session.convo import (
    CODEC,
    Conversation,
    messages,
    reply_chunks,
    text_message,
)


class Device:
    """A tree with its decoder, as one session holds them."""

    def __init__(self) -> None:
        self.tree = Tree(CODEC)
        self.applier = WireApplier(self.tree, CODEC.create_decoder())

    def feed(self, *batches: Any) -> None:
        for batch in batches:
            for message in messages(batch if isinstance(batch, list) else [batch]):
                self.applier.fold_and_emit(message)

    def view(self) -> ClientView:
        async def no_send(*_: Any) -> Any:
            raise AssertionError("pure tree tests do not send")
        return ClientView(self.tree, CODEC, None, no_send)


def texts(view: ClientView) -> list[str]:
    return ["".join(p.get("text", "") for p in m.message["parts"]) for m in view.get_messages()]


def ids(items: list[CodecMessage[Any]]) -> list[str]:
    return [m.codec_message_id for m in items]


def first_turn(c: Conversation) -> list[Any]:
    return [c.prompt("U1", "What is 2+2?"), c.run_start("R1", "U1", "U1"),
            c.reply("R1", "A1", reply_chunks("2+2 is 4."), parent="U1", input_cmid="U1"), c.run_end("R1", "U1")]


def test_prompt_and_streamed_reply_fold_into_one_branch() -> None:
    c, d = Conversation(), Device()
    view = d.view()
    updates: list[int] = []
    view.on("update", lambda _: updates.append(len(view.get_messages())))
    d.feed(*first_turn(c))
    assert ids(view.get_messages()) == ["U1", "A1"]
    assert texts(view) == ["What is 2+2?", "2+2 is 4."]
    assert view.get_messages()[1].message["parts"][0] == {"type": "step-start"}
    [run] = view.runs()
    assert (run.run_id, run.status, run.client_id, run.invocation_id) == ("R1", "complete", "alice", "I-R1")
    assert view.run_of("U1") == run and view.run_of("A1") == run
    assert updates and updates[-1] == 2


def test_streaming_reply_is_visible_while_in_progress() -> None:
    c, d = Conversation(), Device()
    view = d.view()
    turn = first_turn(c)
    reply = turn[2]
    d.feed(turn[0], turn[1], reply[:5])  # create + two appends so far
    assert view.runs()[0].status == "active"
    partial = texts(view)[1]
    d.feed(reply[5:], turn[3])
    assert texts(view)[1] == "2+2 is 4." and partial and "2+2 is 4.".startswith(partial) and partial != "2+2 is 4."


def test_optimistic_input_is_promoted_by_its_echo() -> None:
    c, d = Conversation(), Device()
    view = d.view()
    headers = transport_headers(role="user", codec_message_id="U1", run_client_id="alice", event_id="E1")
    d.tree.apply_message(DecodedMessage(inputs=[CODEC.create_user_message(text_message("hello"))]), headers)
    assert ids(view.get_messages()) == ["U1"]
    assert d.tree.get_node("U1").serial is None  # type: ignore[union-attr]
    d.feed(c.prompt("U1", "hello", event_id="E1"))
    assert ids(view.get_messages()) == ["U1"] and texts(view) == ["hello"]  # folded once, not twice
    assert d.tree.get_node("U1").serial == "s0001"  # type: ignore[union-attr]


def test_outputs_before_run_start_create_the_run_and_run_start_backfills() -> None:
    c, d = Conversation(), Device()
    prompt = c.prompt("U1", "hi")
    start = c.run_start("R1", "U1", "U1")
    reply = c.reply("R1", "A1", reply_chunks("hello"), parent="U1", input_cmid="U1")
    d.feed(prompt, reply, start)
    node = d.tree.get_run_node("R1")
    assert node is not None and node.start_serial == reply[0]["serial"] and node.invocation_id == "I-R1"
    assert ids(d.view().get_messages()) == ["U1", "A1"]


def test_a_late_lower_serial_wire_refolds_the_node() -> None:
    c, d = Conversation(), Device()
    view = d.view()
    prompt = c.prompt("U1", "hi")
    reply = c.reply("R1", "A1", [{"type": "start"}, {"type": "start-step"},
                                 {"type": "data-note", "id": "n", "data": 1},
                                 {"type": "data-note", "id": "n", "data": 2}], parent="U1", input_cmid="U1")
    d.feed(prompt, reply[0], reply[1], reply[3], reply[2])  # data=2 arrives before data=1
    assert view.get_messages()[1].message["parts"][1]["data"] == 2  # refolded in serial order


def test_a_long_streamed_reply_leaves_nothing_per_token_for_the_cyclic_gc() -> None:
    """A node logs every token for refolds; what it keeps must not be GC-tracked objects, or a long
    reply makes each full collection longer (25 ms pauses mid-stream with 25 sessions a process)."""
    c, d = Conversation(), Device()
    view = d.view()
    tokens = 2_000
    text = "".join(f" t{i}" for i in range(tokens))
    turn = [c.prompt("U1", "go"), c.run_start("R1", "U1", "U1"),
            c.reply("R1", "A1", reply_chunks(text, pieces=tokens), parent="U1", input_cmid="U1")]
    *streamed, finish_step, finish = turn[2]
    d.feed(turn[0], turn[1])
    gc.collect()
    before = len(gc.get_objects())
    for delivery in streamed:
        d.feed(delivery)
    gc.collect()
    assert texts(view) == ["go", text]
    assert len(gc.get_objects()) - before < tokens // 10
    d.feed(finish, finish_step)  # finish-step lands before the tail: the node is refolded from its log
    assert texts(view) == ["go", text]


def test_duplicate_deliveries_are_inert() -> None:
    c, d = Conversation(), Device()
    turn = first_turn(c)
    d.feed(*turn)
    before = texts(d.view())
    d.feed(*turn)  # e.g. a history page overlapping the live subscription
    assert texts(d.view()) == before == ["What is 2+2?", "2+2 is 4."]


def regenerated(c: Conversation) -> list[Any]:
    return [*first_turn(c), c.regenerate_signal("G1", "A1", "U1"), c.run_start("R2", "U1", "G1", regenerates="A1"),
            c.reply("R2", "A2", reply_chunks("Four."), parent="U1", input_cmid="G1", regenerates="A1"),
            c.run_end("R2", "G1")]


def test_regenerate_creates_a_sibling_and_each_view_keeps_its_selection() -> None:
    c, d = Conversation(), Device()
    mine, other = d.view(), d.view()
    d.feed(*regenerated(c))
    assert ids(mine.get_messages()) == ["U1", "A2"]  # the newest member by default
    handle = mine.branch_selection("A2")
    assert handle.has_siblings and handle.index == 1 and [m["parts"][1]["text"] for m in handle.siblings] == [
        "2+2 is 4.", "Four."]
    handle.select(0)
    assert ids(mine.get_messages()) == ["U1", "A1"]
    assert ids(other.get_messages()) == ["U1", "A2"]  # the other view is untouched
    assert [r.run_id for r in mine.runs()] == ["R1"] and [r.run_id for r in other.runs()] == ["R2"]
    assert d.tree.get_group_root("R2") == "R1" and [n.key for n in d.tree.get_sibling_nodes("R1")] == ["R1", "R2"]


def test_regenerate_signal_creates_no_node_but_is_indexed_by_event_id() -> None:
    c, d = Conversation(), Device()
    signal = c.regenerate_signal("G1", "A1", "U1")
    d.feed(*first_turn(c), signal)
    assert d.tree.get_node_by_codec_message_id("G1") is None
    event_id = signal[0]["extras"]["ai"]["transport"][h.EVENT_ID]
    assert d.tree.find_ably_message_by_event_id(event_id) is not None


def test_edit_creates_an_input_sibling_pinned_in_views_that_showed_the_original() -> None:
    c, d = Conversation(), Device()
    view = d.view()
    d.feed(*first_turn(c))
    d.feed(c.prompt("U2", "What is 3+3?", fork_of="U1"), c.run_start("R2", "U2", "U2"),
           c.reply("R2", "A2", reply_chunks("6"), parent="U2", input_cmid="U2"), c.run_end("R2", "U2"))
    assert ids(view.get_messages()) == ["U1", "A1"]  # another device edited: this view stays put
    assert ids(d.view().get_messages()) == ["U2", "A2"]  # a fresh view shows the latest version
    handle = view.branch_selection("U1")
    assert handle.has_siblings and handle.index == 0
    handle.select(1)
    assert ids(view.get_messages()) == ["U2", "A2"]


def test_two_devices_sending_at_once_make_two_visible_turns() -> None:
    c, d = Conversation(), Device()
    d.feed(*first_turn(c))
    d.feed(c.prompt("U2", "from phone", parent="A1", client="bob"),
           c.prompt("U3", "from laptop", parent="A1"),
           c.run_start("R2", "U2", "U2", owner="bob"), c.run_start("R3", "U3", "U3"))
    assert ids(d.view().get_messages()) == ["U1", "A1", "U2", "U3"]
    assert [(r.run_id, r.client_id) for r in d.view().runs()] == [("R1", "alice"), ("R2", "bob"), ("R3", "alice")]


def test_two_replies_streaming_at_once_fold_into_their_own_runs() -> None:
    """Appends of two streams interleave, with a new prompt (a structural change) mid-stream: each
    append folds into its own run and its `output` event names that run."""
    c, d = Conversation(), Device()
    view = d.view()
    d.feed(*first_turn(c))
    d.feed(c.prompt("U2", "from phone", parent="A1", client="bob"), c.prompt("U3", "from laptop", parent="A1"),
           c.run_start("R2", "U2", "U2", owner="bob"), c.run_start("R3", "U3", "U3"))
    one = "".join(f" a{i}" for i in range(40))
    two = "".join(f" b{i}" for i in range(40))
    r2 = c.reply("R2", "A2", reply_chunks(one, pieces=40), parent="U2", input_cmid="U2", owner="bob")
    r3 = c.reply("R3", "A3", reply_chunks(two, pieces=40), parent="U3", input_cmid="U3")
    outputs: list[tuple[str | None, str | None]] = []
    d.tree.on("output", lambda e: outputs.append((e.run_id, e.codec_message_id)) if e.run_id else None)
    interleaved = [w for pair in zip(r2, r3) for w in pair]
    d.feed(interleaved[:30], c.prompt("U4", "meanwhile", parent="A1"), interleaved[30:])
    assert one in texts(view) and two in texts(view)
    assert "".join(p.get("text", "") for p in d.tree.get_run_node("R2").projection.messages[0].message["parts"]) \
        == one  # type: ignore[union-attr]
    assert "".join(p.get("text", "") for p in d.tree.get_run_node("R3").projection.messages[0].message["parts"]) \
        == two  # type: ignore[union-attr]
    assert set(outputs) == {("R2", "A2"), ("R3", "A3")}
    assert len(outputs) == len(r2) + len(r3)


def test_an_append_whose_headers_change_mid_stream_is_announced_with_them() -> None:
    """Appends with unchanged headers reuse what the stream's first wire derived; one that carries
    a new header (here a steer stamp) must not: its `output` event names the steered inputs."""
    c, d = Conversation(), Device()
    d.feed(*first_turn(c))
    d.feed(c.prompt("U2", "more", parent="A1"), c.run_start("R2", "U2", "U2"))
    reply = c.reply("R2", "A2", reply_chunks(" a b c d e f", pieces=6), parent="U2", input_cmid="U2")
    stamped = copy.deepcopy(reply[6])
    stamped["extras"]["ai"]["transport"][h.STEER_CODEC_MESSAGE_IDS] = '["S1"]'
    steered: list[list[str] | None] = []
    d.tree.on("output", lambda e: steered.append(e.steer_codec_message_ids) if e.run_id == "R2" else None)
    d.feed(reply[:6], stamped, reply[7:])
    assert len(steered) == len(reply)  # one per wire, in delivery order
    assert steered[6] == ["S1"] and steered[:6] + steered[7:] == [None] * (len(reply) - 1)
    assert "".join(p.get("text", "") for p in d.tree.get_run_node("R2").projection.messages[0].message["parts"]) \
        == " a b c d e f"  # type: ignore[union-attr]


def test_run_end_with_error_rebuilds_the_agent_error() -> None:
    c, d = Conversation(), Device()
    d.feed(c.prompt("U1", "hi"), c.run_start("R1", "U1", "U1"), c.run_end("R1", "U1", "error", error=(42912, "slow")))
    [run] = d.view().runs()
    assert run.status == "error" and run.error is not None
    assert (run.error.code, run.error.status_code, run.error.message) == (42912, 429, "slow")


def test_output_of_a_superseded_step_attempt_is_dropped() -> None:
    c, d = Conversation(), Device()
    d.feed(c.prompt("U1", "hi"), c.run_start("R1", "U1", "U1"))
    first = c.step("R1", "S")
    d.feed(first, c.reply("R1", "A1", reply_chunks("first try"), parent="U1", input_cmid="U1",
                          step=("S", first["serial"])))
    assert texts(d.view())[1] == "first try"
    retry = c.step("R1", "S")
    d.feed(retry, c.reply("R1", "A2", reply_chunks("second"), parent="U1", input_cmid="U1",
                          step=("S", retry["serial"])), c.step("R1", "S", end_of=retry["serial"]))
    assert texts(d.view())[1:] == ["second"]
    node = d.tree.get_run_node("R1")
    assert isinstance(node, RunNode) and node.steps[0].attempt_count == 2 and node.steps[0].status == "complete"


def test_a_joiner_that_sees_the_stream_part_way_reconstructs_it() -> None:
    c, d = Conversation(), Device()
    prompt, start = c.prompt("U1", "hi"), c.run_start("R1", "U1", "U1")
    reply = c.reply("R1", "A1", reply_chunks("abcdefghi"), parent="U1", input_cmid="U1")
    create = reply[2]
    seen = "".join(m.get("data", "") for m in reply[3:5])
    first_contact = {**reply[5], "action": "message.update", "name": create["name"], "data": seen + reply[5]["data"]}
    d.feed(prompt, start, first_contact, reply[6:])  # attached after two appends: never saw start or the create
    message = d.view().get_messages()[1].message
    assert message["parts"] == [{"type": "step-start"}, {"type": "text", "text": "abcdefghi"}]


def test_history_after_a_first_contact_does_not_duplicate_the_step() -> None:
    """A joiner folds the live first contact (with a synthesised start/start-step), then history brings
    the real start/start-step at lower serials: the refold must not render two step-starts."""
    c, d = Conversation(), Device()
    prompt, start = c.prompt("U1", "hi"), c.run_start("R1", "U1", "U1")
    reply = c.reply("R1", "A1", reply_chunks("abcdefghi"), parent="U1", input_cmid="U1")
    seen = "".join(m.get("data", "") for m in reply[3:5])
    first_contact = {**reply[5], "action": "message.update", "name": reply[2]["name"], "data": seen + reply[5]["data"]}
    d.feed(first_contact)
    d.feed(prompt, start, reply[:3])  # the history page, folded after the live delivery
    d.feed(reply[6:])
    message = d.view().get_messages()[1].message
    assert message["parts"] == [{"type": "step-start"}, {"type": "text", "text": "abcdefghi"}]


async def test_watch_yields_a_snapshot_per_change_and_ends_on_close() -> None:
    import asyncio
    c, d = Conversation(), Device()
    view = d.view()
    snapshots: list[list[str]] = []
    taken = asyncio.Event()

    async def consume() -> None:
        async for snapshot in view.watch():
            snapshots.append([m["role"] for m in snapshot])
            taken.set()

    async def next_snapshot() -> None:
        async with asyncio.timeout(5):
            await taken.wait()
        taken.clear()

    prompt = await asyncio.to_thread(c.prompt, "U1", "hi")  # the builder runs its own event loop
    start = c.run_start("R1", "U1", "U1")
    reply = await asyncio.to_thread(c.reply, "R1", "A1", reply_chunks("yo"), parent="U1", input_cmid="U1")
    task = asyncio.ensure_future(consume())
    await next_snapshot()
    d.feed(prompt)
    await next_snapshot()
    d.feed(start, reply)
    await next_snapshot()
    view.close()
    async with asyncio.timeout(5):
        await task
    assert snapshots[0] == [] and snapshots[1] == ["user"] and snapshots[-1] == ["user", "assistant"]
