"""Multi-device sessions against a real broker: two devices and the example agent (fake LLM over HTTP)."""

from __future__ import annotations

import asyncio

from client import TokenParams
from client.codec import ErrorCode
from client.session import ClientSession, invoke_agent
from examples.agent import FakeLLM
from tests.session.conftest import AgentFactory, reply_text, until, user
from tests.support.proxy import TcpProxy

CHANNEL = "conversations:c1"


def expected(prompt: str, tokens: int) -> str:
    return "".join(FakeLLM(tokens, 0).words(prompt))


async def ask(session: ClientSession, url: str, text: str) -> str:
    """Send a prompt from this device, invoke the agent, return the run-id once started."""
    run = await session.view.send(user(text))
    await invoke_agent(run.to_invocation(), url)
    return await run.wait_started(10)


async def test_two_devices_see_the_same_streamed_reply(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=30, delay=0.01)
    laptop = await device("alice-laptop", CHANNEL)
    phone = await device("alice-phone", CHANNEL)
    partial: list[str] = []
    phone.view.on("update", lambda _: partial.append(reply_text(phone.view)) if len(phone.view.messages()) == 2
                  else None)
    run_id = await ask(laptop, url, "hi")
    full = expected("hi", 30)
    for view in (laptop.view, phone.view):
        await until(view, lambda v=view: reply_text(v) == full and v.runs()[-1].status == "complete")
    assert laptop.view.messages() == phone.view.messages()
    assert [r.run_id for r in phone.view.runs()] == [run_id]
    assert phone.view.runs()[0].client_id == "alice-laptop"
    streamed = [p for p in partial if p and p != full]
    assert streamed and all(full.startswith(p) for p in streamed)  # the phone saw it grow, token by token


async def test_another_device_cancels_a_run(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=400, delay=0.02, owner_only_cancel=False)
    laptop = await device("alice-laptop", CHANNEL)
    phone = await device("bob-phone", CHANNEL)
    run_id = await ask(laptop, url, "long one")
    await until(phone.view, lambda: len(reply_text(phone.view)) > 20, what="some tokens on the phone")
    [seen] = phone.view.runs()
    assert seen.run_id == run_id and seen.status == "active"
    await phone.cancel(seen.run_id)
    for view in (laptop.view, phone.view):
        await until(view, lambda v=view: v.runs()[0].status == "cancelled", what="cancelled")
    text = reply_text(laptop.view)
    assert 20 < len(text) < len(expected("long one", 400)) and expected("long one", 400).startswith(text)


async def test_a_cancel_refused_by_on_cancel_changes_nothing(device, agent: AgentFactory) -> None:
    made, url = await agent(tokens=60, delay=0.01, owner_only_cancel=True)
    laptop = await device("alice-laptop", CHANNEL)
    phone = await device("mallory-phone", CHANNEL)
    run_id = await ask(laptop, url, "mine")
    await until(phone.view, lambda: len(reply_text(phone.view)) > 5)
    await phone.cancel(run_id)
    async with asyncio.timeout(10):
        decision = await made.cancel_decisions.get()
    assert decision == (run_id, "mallory-phone", False)
    await until(phone.view, lambda: phone.view.runs()[0].status == "complete")
    assert reply_text(phone.view) == expected("mine", 60)
    assert made.cancel_decisions.empty()


async def test_the_owner_cancels_its_own_run_before_it_has_an_id(device, agent: AgentFactory) -> None:
    """A cancel that reaches the (attached) agent before the run exists is buffered under the input's
    codec-message-id and honoured at start: run-start, then run-end cancelled, with no output."""
    _, url = await agent(tokens=20, delay=0.005)
    laptop = await device("alice-laptop", CHANNEL)
    await ask(laptop, url, "warm up")  # the agent is now attached to the channel
    await until(laptop.view, lambda: laptop.view.runs()[0].status == "complete")
    run = await laptop.view.send(user("stop me"))
    await run.cancel()
    await invoke_agent(run.to_invocation(), url)
    await run.wait_started(10)
    await until(laptop.view, lambda: len(laptop.view.runs()) == 2 and laptop.view.runs()[1].status == "cancelled")
    assert run.status == "cancelled" and run.messages == [laptop.view.messages()[2]]  # the prompt, no reply
    assert laptop.view.runs()[1].steps == ()


async def test_a_device_joining_mid_stream_loads_history_and_sees_the_rest(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=80, delay=0.02)
    laptop = await device("alice-laptop", CHANNEL)
    await ask(laptop, url, "first")
    await until(laptop.view, lambda: laptop.view.runs() and laptop.view.runs()[0].status == "complete")
    await ask(laptop, url, "second")
    await until(laptop.view, lambda: len(reply_text(laptop.view)) > 30)
    tablet = await device("alice-tablet", CHANNEL)
    assert tablet.view.messages() == []
    loaded = await tablet.view.load_older(30)
    assert [m.codec_message_id for m in loaded] == [m.codec_message_id for m in tablet.view.get_messages()]
    assert len(tablet.view.messages()) == 4 and tablet.view.runs()[-1].status == "active"
    in_progress = reply_text(tablet.view)
    assert in_progress and expected("second", 80).startswith(in_progress) and in_progress != expected("second", 80)
    await until(tablet.view, lambda: tablet.view.runs()[-1].status == "complete")
    assert reply_text(tablet.view) == expected("second", 80)
    assert reply_text(tablet.view, 1) == expected("first", 80)
    assert tablet.view.messages() == laptop.view.messages()
    assert not tablet.view.has_older()


async def test_regenerate_shows_a_sibling_on_the_other_device_which_keeps_its_choice(device,
                                                                                    agent: AgentFactory) -> None:
    _, url = await agent(tokens=10, delay=0.002)
    laptop = await device("alice-laptop", CHANNEL)
    phone = await device("alice-phone", CHANNEL)
    await ask(laptop, url, "q")
    await until(phone.view, lambda: phone.view.runs() and phone.view.runs()[0].status == "complete")
    first = phone.view.get_messages()[1].codec_message_id

    regen = await laptop.view.regenerate(laptop.view.get_messages()[1].codec_message_id)
    await invoke_agent(regen.to_invocation(), url)
    second_run = await regen.wait_started(10)
    for view in (laptop.view, phone.view):
        await until(view, lambda v=view: v.runs()[-1].run_id == second_run and v.runs()[-1].status == "complete")
    second = phone.view.get_messages()[1].codec_message_id
    assert second != first
    handle = phone.view.branch_selection(second)
    assert handle.has_siblings and len(handle.siblings) == 2 and handle.index == 1
    handle.select(0)  # the phone goes back to the first answer
    assert phone.view.get_messages()[1].codec_message_id == first

    regen2 = await laptop.view.regenerate(laptop.view.get_messages()[1].codec_message_id)
    await invoke_agent(regen2.to_invocation(), url)
    third_run = await regen2.wait_started(10)
    await until(laptop.view, lambda: laptop.view.runs()[-1].run_id == third_run
                and laptop.view.runs()[-1].status == "complete")
    await until(phone.view, lambda: len(phone.view.branch_selection(first).siblings) == 3)
    assert phone.view.get_messages()[1].codec_message_id == first  # its own selection is kept
    assert laptop.view.get_messages()[1].codec_message_id not in (first, second)  # the laptop shows the newest
    assert phone.tree.get_run_node(third_run).regenerates_codec_message_id == first  # type: ignore[union-attr]


async def test_a_device_whose_connection_is_cut_mid_stream_loses_nothing(device, agent: AgentFactory,
                                                                        proxy: TcpProxy) -> None:
    _, url = await agent(tokens=200, delay=0.01)
    laptop = await device("alice-laptop", CHANNEL)
    phone = await device("alice-phone", CHANNEL, port=proxy.port)
    errors: list[object] = []
    phone.on("error", errors.append)
    await ask(laptop, url, "resume")
    await until(phone.view, lambda: len(reply_text(phone.view)) > 50)
    proxy.cut()
    await until(laptop.view, lambda: laptop.view.runs()[0].status == "complete")
    await until(phone.view, lambda: phone.view.runs() and phone.view.runs()[0].status == "complete", timeout=20)
    assert reply_text(phone.view) == expected("resume", 200)
    assert phone.view.messages() == laptop.view.messages()
    assert errors == []  # resumed: no continuity loss


async def test_two_devices_sending_at_the_same_moment_get_two_runs(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=15, delay=0.005)
    laptop = await device("alice-laptop", CHANNEL)
    phone = await device("bob-phone", CHANNEL)
    run_ids = await asyncio.gather(ask(laptop, url, "from laptop"), ask(phone, url, "from phone"))
    assert run_ids[0] != run_ids[1]
    for view in (laptop.view, phone.view):
        await until(view, lambda v=view: len(v.runs()) == 2 and all(r.status == "complete" for r in v.runs()))
    assert laptop.view.messages() == phone.view.messages()
    texts = sorted(reply_text(laptop.view, i) for i in range(len(laptop.view.messages()))
                   if laptop.view.messages()[i]["role"] == "assistant")
    assert texts == sorted([expected("from laptop", 15), expected("from phone", 15)])
    assert {r.client_id for r in laptop.view.runs()} == {"alice-laptop", "bob-phone"}


async def test_devices_sharing_a_client_id_are_one_owner(device, agent: AgentFactory) -> None:
    """The transport cannot tell two devices with one clientId apart: an owner-only cancel policy lets
    either cancel the other's run, and cancelling "my runs" cancels both. Use a clientId per device."""
    _, url = await agent(tokens=400, delay=0.02, owner_only_cancel=True)
    laptop = await device("alice", CHANNEL)
    phone = await device("alice", CHANNEL)
    await asyncio.gather(ask(laptop, url, "laptop"), ask(phone, url, "phone"))
    await until(phone.view, lambda: len(phone.view.runs()) == 2 and all(r.status == "active" for r in phone.view.runs()))
    mine = phone.own_active_runs()
    assert len(mine) == 2  # the laptop's run counts as the phone's own
    await asyncio.gather(*(phone.cancel(r.run_id) for r in mine))
    await until(laptop.view, lambda: [r.status for r in laptop.view.runs()] == ["cancelled", "cancelled"])


async def test_a_late_joiner_without_history_capability_sees_live_only(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=100, delay=0.01)
    laptop = await device("alice-laptop", CHANNEL)
    await ask(laptop, url, "before")
    await until(laptop.view, lambda: laptop.view.runs() and laptop.view.runs()[0].status == "complete")
    guest = await device("guest", CHANNEL, use_token_auth=True, default_token_params=TokenParams(
        capability={"conversations:*": ["subscribe", "publish", "presence"]}))
    await ask(laptop, url, "during")
    await until(guest.view, lambda: guest.view.runs() and guest.view.runs()[-1].status == "complete")
    assert reply_text(guest.view) == expected("during", 100)
    assert [m["role"] for m in guest.view.messages()] == ["user", "assistant"]  # not the earlier turn
    assert guest.view.messages() == laptop.view.messages()[2:]
    try:
        await guest.view.load_older(10)
    except Exception as exc:  # noqa: BLE001 - the error itself is the assertion
        error = exc
    else:
        raise AssertionError("load_older should refuse without the history capability")
    assert getattr(error, "code", None) == ErrorCode.HISTORY_FETCH_FAILED  # wrapping the broker's 40160
    assert "40160" in str(error) and "history" in str(error).lower()
    assert reply_text(guest.view) == expected("during", 100)  # the session keeps working


async def test_each_device_is_present_and_the_agent_says_when_it_is_working(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=100, delay=0.02)
    laptop = await device("alice-laptop", CHANNEL)
    phone = await device("alice-phone", CHANNEL)
    await laptop.participants.enter(device="laptop")
    await phone.participants.enter(device="phone")
    await ask(laptop, url, "work")
    await until(phone.view, lambda: len(reply_text(phone.view)) > 10)
    people = await phone.participants.list()
    assert {(p.client_id, p.role, p.device) for p in people if p.role == "user"} == {
        ("alice-laptop", "user", "laptop"), ("alice-phone", "user", "phone")}
    assert await phone.participants.agent_working()
    await until(phone.view, lambda: phone.view.runs()[0].status == "complete", timeout=15)
    async with asyncio.timeout(10):
        while await phone.participants.agent_working():
            await asyncio.sleep(0.05)


async def test_an_edit_is_selected_where_it_was_made_and_pinned_elsewhere(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=5, delay=0.002)
    laptop = await device("alice-laptop", CHANNEL)
    phone = await device("alice-phone", CHANNEL)
    await ask(laptop, url, "2+2?")
    await until(phone.view, lambda: phone.view.runs() and phone.view.runs()[0].status == "complete")
    original = laptop.view.get_messages()[0].codec_message_id
    edited = await laptop.view.edit(original, user("3+3?"))
    await invoke_agent(edited.to_invocation(), url)
    await edited.wait_started(10)
    await until(laptop.view, lambda: len(laptop.view.messages()) == 2 and laptop.view.runs()[0].status == "complete"
                and laptop.view.messages()[0]["parts"][0]["text"] == "3+3?")
    await until(phone.view, lambda: len(phone.tree.get_sibling_nodes(original)) == 2)
    assert phone.view.messages()[0]["parts"][0]["text"] == "2+2?"  # the phone keeps what it showed
    handle = phone.view.branch_selection(original)
    assert handle.has_siblings and handle.index == 0
    handle.select(1)
    await until(phone.view, lambda: reply_text(phone.view) == expected("3+3?", 5))


async def test_load_until_stops_at_a_seam(device, agent: AgentFactory) -> None:
    _, url = await agent(tokens=3, delay=0.002)
    laptop = await device("alice-laptop", CHANNEL)
    for prompt in ("one", "two", "three"):
        await ask(laptop, url, prompt)
        await until(laptop.view, lambda: laptop.view.runs()[-1].status == "complete")
    reader = await device("alice-tablet", CHANNEL)
    seam = laptop.view.get_messages()[1].codec_message_id  # the first reply: "everything after it"
    tail = await reader.view.load_until(lambda m: m.codec_message_id == seam)
    assert [m.codec_message_id for m in tail] == [m.codec_message_id for m in laptop.view.get_messages()[2:]]
    assert [m.codec_message_id for m in reader.view.get_messages()] == [m.codec_message_id for m in tail]
