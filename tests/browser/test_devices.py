"""The demo page in Chromium: two pages are two devices of one user, on one conversation."""

from __future__ import annotations

from pathlib import Path

from examples.agent import FakeLLM
from tests.browser.conftest import REPLY_TOKENS, Stack
from tests.browser.pages import Browser

STREAMING = "s.messages.some((m) => m.role === 'assistant' && m.status === 'active' && m.text.length > 0)"


def reply(prompt: str, take: int = 1) -> str:
    return "".join(FakeLLM(REPLY_TOKENS, 0).words(prompt, take))


def complete(text: str) -> str:
    return f"s.messages.some((m) => m.role === 'assistant' && m.status === 'complete' && m.text === {text!r})"


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
