"""Pages that arrive mid-reply, or lose their connection mid-reply, still show the whole reply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import Stack
from tests.browser.expect import IDLE, STREAMING, complete, conversation, reply
from tests.browser.pages import Browser
from tests.support.proxy import TcpProxy

REPLY_DELAY_MS = 150  # ~4.5 s a reply: a page opened after the prompt must still find it streaming


@pytest.fixture
def proxy(stack: Stack) -> Iterator[TcpProxy]:
    """A TCP path to the broker that the test can cut, as a network would."""
    started = TcpProxy(stack.broker.port).start()
    yield started
    started.stop()


async def test_a_page_opened_mid_stream_loads_history_and_shows_the_reply_in_progress(
        stack: Stack, browser: Browser, chat: str) -> None:
    laptop = await browser.open("laptop", stack.url("laptop", chat))
    await laptop.ready()
    await laptop.send("first question")
    await laptop.wait(f"{complete(reply('first question'))} && {IDLE}", "the first reply", timeout=20)
    await laptop.send("second question")
    await laptop.wait(STREAMING, "the second reply streaming")

    tablet = await browser.open("tablet", stack.url("tablet", chat))
    joined = await tablet.wait(f"{STREAMING} && s.messages.length === 4", "history and the reply in progress")
    assert [(m["role"], m["status"]) for m in joined["messages"]] == [
        ("user", "sent"), ("assistant", "complete"), ("user", "sent"), ("assistant", "active")]
    assert joined["messages"][1]["text"] == reply("first question")
    assert joined["active"] == 1
    done = await tablet.wait(f"{complete(reply('second question'))} && {IDLE}", "the reply completing", timeout=20)
    assert conversation(done) == [("user", "first question"), ("assistant", reply("first question")),
                                  ("user", "second question"), ("assistant", reply("second question"))]


async def test_a_page_whose_connection_is_cut_resumes_and_shows_the_whole_reply(
        stack: Stack, browser: Browser, chat: str, proxy: TcpProxy) -> None:
    laptop = await browser.open("laptop", stack.url("laptop", chat))
    phone = await browser.open("phone", stack.url("phone", chat, brokerPort=proxy.port))
    await laptop.ready()
    await phone.ready()
    connection_id = await phone.page("evaluate", "window.tetherClient.connection.id")

    await laptop.send("keep talking")
    before = await phone.wait(STREAMING, "the reply streaming in")
    proxy.drop()  # the socket dies under the page, and the network is gone
    await phone.offline(True)
    await phone.wait("s.connection !== 'connected'", "the page noticing the cut")
    streamed = len(before["messages"][-1]["text"])
    await laptop.wait(f"s.messages.at(-1).text.length > {streamed + 20}", "the reply going on meanwhile")
    proxy.restore()
    await phone.offline(False)  # the browser's `online` event: ably-js reconnects at once

    full = reply("keep talking")
    done = await phone.wait(f"{complete(full)} && {IDLE} && s.connection === 'connected'", "the whole reply",
                            timeout=20)
    assert conversation(done) == [("user", "keep talking"), ("assistant", full)]
    assert await phone.page("evaluate", "window.tetherClient.connection.id") == connection_id, "resumed"
