"""The demo page in Chromium: two pages are two devices of one user, on one conversation."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import Stack
from tests.browser.expect import IDLE, STREAMING, complete, conversation, reply
from tests.browser.pages import Browser


async def test_two_pages_see_the_same_reply_stream_in(stack: Stack, browser: Browser, chat: str,
                                                      artifacts: Path) -> None:
    laptop = await browser.open("laptop", stack.url("laptop", chat))
    phone = await browser.open("phone", stack.url("phone", chat))
    await laptop.ready()
    await phone.ready()
    await laptop.wait("s.members.includes('alice-phone')", "seeing the phone in presence")

    await laptop.send("hello from the laptop")
    for device in (laptop, phone):  # both see the reply in progress, before it is complete
        seen = await device.wait(f"{STREAMING} && s.active === 1", "the reply streaming in")
        assert seen["messages"][0] == {"role": "user", "status": "sent", "text": "hello from the laptop",
                                       "branch": None}
        assert len(seen["messages"][-1]["text"]) < len(reply("hello from the laptop"))
    await phone.screenshot(artifacts / "phone-streaming.png")

    full = reply("hello from the laptop")
    for device in (laptop, phone):
        done = await device.wait(f"{complete(full)} && s.active === 0", "the whole reply")
        assert [(m["role"], m["text"]) for m in done["messages"]] == [("user", "hello from the laptop"),
                                                                      ("assistant", full)]
        assert {"alice-laptop", "alice-phone", "agent"} <= set(done["members"])
        assert done["errors"] == []
    await laptop.screenshot(artifacts / "laptop.png")
    await phone.screenshot(artifacts / "phone.png")


async def test_a_cancel_from_the_phone_stops_the_laptops_run(stack: Stack, browser: Browser, chat: str,
                                                              artifacts: Path) -> None:
    laptop = await browser.open("laptop", stack.url("laptop", chat))
    phone = await browser.open("phone", stack.url("phone", chat))
    await laptop.ready()
    await phone.ready()

    await laptop.send("tell me a long story")
    await phone.wait(f"{STREAMING} && s.active === 1", "the laptop's reply streaming in")
    await phone.click("cancel")

    cancelled = "s.messages.some((m) => m.role === 'assistant' && m.status === 'cancelled') && s.active === 0"
    shown = [await device.wait(cancelled, "the run cancelled") for device in (laptop, phone)]
    await laptop.screenshot(artifacts / "laptop.png")
    await phone.screenshot(artifacts / "phone.png")
    full = reply("tell me a long story")
    texts = {state["messages"][-1]["text"] for state in shown}
    assert len(texts) == 1, f"both devices show the same, stopped reply: {texts}"
    (stopped,) = texts
    assert stopped and full.startswith(stopped) and stopped != full, "the agent stopped mid-reply"
    await laptop.wait("s.agent === 'idle'", "the agent going idle")



async def test_a_regenerate_on_the_laptop_shows_a_sibling_on_the_phone_which_keeps_its_choice(
        stack: Stack, browser: Browser, chat: str, artifacts: Path) -> None:
    laptop = await browser.open("laptop", stack.url("laptop", chat))
    phone = await browser.open("phone", stack.url("phone", chat))
    await laptop.ready()
    await phone.ready()
    first, second = reply("pick a colour"), reply("pick a colour", take=2)
    await laptop.send("pick a colour")
    for device in (laptop, phone):
        await device.wait(f"{complete(first)} && {IDLE}", "the first answer")

    await laptop.click("regenerate")  # a page with no choice of its own follows the newest answer
    second_state = f"{complete(second)} && {IDLE} && s.messages.at(-1).branch === '2/2'"
    for device in (laptop, phone):
        shown = await device.wait(second_state, "the second answer")
        assert conversation(shown) == [("user", "pick a colour"), ("assistant", second)]

    await phone.click("branch-prev")  # the phone chooses the first answer
    await phone.wait(f"{complete(first)} && s.messages.at(-1).branch === '1/2'", "the phone back on the first")
    await laptop.click("regenerate")
    third = reply("pick a colour", take=3)
    await laptop.wait(f"{complete(third)} && {IDLE} && s.messages.at(-1).branch === '3/3'", "the third answer")
    kept = await phone.wait("s.messages.at(-1).branch === '1/3'", "the phone learning of the third sibling")
    assert conversation(kept) == [("user", "pick a colour"), ("assistant", first)], "the phone kept its choice"
    await laptop.screenshot(artifacts / "laptop.png")
    await phone.screenshot(artifacts / "phone.png")
    assert (await laptop.state())["messages"][-1]["text"] == third


async def test_a_token_without_history_sees_the_live_stream_but_not_the_past(
        stack: Stack, browser: Browser, chat: str, artifacts: Path) -> None:
    laptop = await browser.open("laptop", stack.url("laptop", chat))
    await laptop.ready()
    await laptop.send("something from before")
    await laptop.wait(f"{complete(reply('something from before'))} && {IDLE}", "the first reply")

    kiosk = await browser.open("kiosk", stack.url("kiosk", chat, history=0))
    refused = await kiosk.wait("s.connection === 'connected' && s.historyError", "the history refusal shown")
    assert "not available" in refused["historyError"]
    assert refused["messages"] == []

    await laptop.send("something new")
    live = await kiosk.wait(f"{complete(reply('something new'))} && {IDLE}", "the live reply")
    assert conversation(live) == [("user", "something new"), ("assistant", reply("something new"))]
    await kiosk.screenshot(artifacts / "kiosk.png")
