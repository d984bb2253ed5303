"""Text frames that are not UTF-8, and msgSerials the protocol does not allow, are connection errors.

Invalid UTF-8 was once replaced with U+FFFD and stored (the message silently altered); now the
client hears ERROR 40000 and the socket closes with 1007, as RFC 6455 asks. A msgSerial that is
not an integer from 0 cannot be ACKed or NACKed (both name it), so it is ERROR 40000 too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from broker.protocol.actions import Action
from tests.support.broker import BrokerProcess
from tests.support.wire import TIMEOUT, WireClient


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(db=Path(tmp_path_factory.mktemp("frames")) / "broker.db", engine="memory").start()
    yield proc
    proc.stop()
    assert "Traceback" not in proc.log(), proc.log()[-3000:]


def history(broker: BrokerProcess, channel: str) -> list[dict[str, Any]]:
    headers = {"Authorization": "Basic " + base64.b64encode(broker.key.encode()).decode()}
    resp = httpx.get(f"{broker.http_url}/channels/{channel}/messages", headers=headers, timeout=TIMEOUT)
    assert resp.status_code == 200
    return resp.json()  # type: ignore[no-any-return]


async def closed_code(client: WireClient) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd is not None, "the broker closed without a close frame"
    return closed.value.rcvd.code


async def test_invalid_utf8_in_a_text_frame_is_error_then_close_1007(target: BrokerProcess) -> None:
    c = await WireClient.open(target.ws_url, "json", key=target.key)
    await c.connected()
    frame = json.dumps({"action": Action.MESSAGE, "channel": "utf8", "msgSerial": 0,
                        "messages": [{"data": "caf\u00e9"}]}).encode().replace(b"\\u00e9", b"\xc3\x28")
    await c.ws.send(frame, text=True)
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000 and "UTF-8" in err["error"]["message"]
    assert await closed_code(c) == 1007
    assert history(target, "utf8") == []


async def test_invalid_utf8_split_across_fragments_is_refused_too(target: BrokerProcess) -> None:
    c = await WireClient.open(target.ws_url, "json", key=target.key)
    await c.connected()
    head = json.dumps({"action": Action.MESSAGE, "channel": "utf8frag", "msgSerial": 0,
                       "messages": [{"data": "X"}]}).encode()
    first, _, last = head.partition(b"X")
    await c.ws.send(iter([first + b"\xe2\x82", b"\x28" + last]), text=True)  # a 3-byte sequence broken by a fragment
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000
    assert await closed_code(c) == 1007
    assert history(target, "utf8frag") == []


async def test_valid_utf8_split_across_fragments_is_stored_as_sent(target: BrokerProcess) -> None:
    c = await WireClient.open(target.ws_url, "json", key=target.key)
    await c.connected()
    text = json.dumps({"action": Action.MESSAGE, "channel": "utf8ok", "msgSerial": 0,
                       "messages": [{"data": "\u20ac"}]}, ensure_ascii=False).encode()
    cut = text.index("\u20ac".encode()) + 1  # inside the euro sign's three bytes
    await c.ws.send(iter([text[:cut], text[cut:]]), text=True)
    assert (await c.ack(0))["action"] == Action.ACK
    assert [m["data"] for m in history(target, "utf8ok")] == ["\u20ac"]
    await c.close()


@pytest.mark.parametrize("serial", [-1, "1", 1 << 70, 1.0, True, (1 << 53)])
async def test_a_msgserial_that_is_not_an_integer_from_0_is_a_connection_error(target: BrokerProcess,
                                                                               serial: object) -> None:
    c = await WireClient.open(target.ws_url, "json", key=target.key)
    await c.connected()
    await c.send({"action": Action.MESSAGE, "channel": "serials", "msgSerial": serial, "messages": [{"data": "x"}]})
    err = await c.expect(Action.ERROR)
    assert err["error"]["code"] == 40000 and "msgSerial must be an integer from 0" in err["error"]["message"]
    with pytest.raises(ConnectionClosed):
        await c.recv()
    assert history(target, "serials") == []


async def test_msgserials_from_0_are_acked(target: BrokerProcess) -> None:
    c = await WireClient.open(target.ws_url, "msgpack", key=target.key)
    await c.connected()
    for _ in range(3):
        assert (await c.ack(await c.publish("serials-ok", [{"data": "x"}])))["action"] == Action.ACK
    await c.close()
