"""Annotations through ably-js 2.28: publish and delete (realtime and REST), raw annotations for
the annotation_subscribe mode, summaries (message.summary) for subscribers, REST get and reads."""

from __future__ import annotations

import pytest

from tests.support.broker import BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

FINAL = {
    "reaction:distinct.v1": {"👍": {"total": 1, "clientIds": ["bob"], "clipped": False},
                             "❤️": {"total": 1, "clientIds": ["bob"], "clipped": False}},
    "vote:unique.v1": {"no": {"total": 1, "clientIds": ["alice"], "clipped": False}},
    "rating:multiple.v1": {"stars": {"total": 8, "clientIds": {"alice": 8}, "totalUnidentified": 0,
                                     "clipped": False, "totalClientIds": 1}},
    "receipt:flag.v1": {"total": 2, "clientIds": ["alice", "bob"], "clipped": False},
    "metric:total.v1": {"total": 1},
}


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_annotations_publish_subscribe_summaries_and_reads(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("annotations.mjs", {**broker_params(broker), "format": fmt, "channel": f"ai:ann-{fmt}"},
                          brokers=(broker,))
    assert all(p["ok"] for p in result["published"]), result["published"]
    serial = result["message"]["serial"]

    raw = result["raw"]
    assert len(raw) == 11, "every create and delete reaches the annotation_subscribe attachment"
    assert [a["action"] for a in raw] == ["annotation.create"] * 10 + ["annotation.delete"]
    assert all(a["messageSerial"] == serial and a["serial"] > serial for a in raw)
    assert [a["serial"] for a in raw] == sorted(a["serial"] for a in raw), "annotations arrive in serial order"
    first = raw[0]
    assert (first["type"], first["name"], first["clientId"], first["data"]) == ("reaction:distinct.v1", "👍", "alice", "first")
    assert first["id"] and first["timestamp"]
    assert raw[5]["count"] == 4 and raw[9]["clientId"] is None

    summary = result["finalSummary"]
    assert summary["serial"] == serial and summary["summary"] == FINAL
    assert all(s["serial"] == serial for s in result["summaries"])

    refusals = result["refusals"]
    assert refusals["anonymousDistinct"]["error"]["code"] == 40012, "distinct.v1 needs an identified client"
    assert refusals["badType"]["error"]["code"] == 40003
    assert refusals["unknownMessage"]["error"]["statusCode"] == 404
    assert result["noMode"]["error"]["code"] == 93001, "ably-js refuses: the mode was not requested"

    assert [a["serial"] for a in result["all"]] == [a["serial"] for a in raw], "REST get: every annotation, earliest first"
    assert result["pages"] == [["👍", "👍", "❤️", "yes", "no"], ["stars", "stars", "receipt:flag.v1",
                               "receipt:flag.v1", "metric:total.v1"], ["👍"]]
    assert result["history"] == [{"serial": serial, "summary": FINAL}], "history carries the latest summary"
    assert result["getMessage"]["summary"] == FINAL
    assert result["rewound"] == {"serial": serial, "action": "message.create", "summary": FINAL}, \
        "a rewind replays the message with its current summary"
