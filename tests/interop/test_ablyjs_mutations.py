"""Update, delete and append through ably-js 2.28: realtime and REST, live, late joiner, reads, errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.broker import TEST_KEY, BrokerProcess
from tests.support.node import broker_params, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("ably_js")]

BEFORE = ["Hel", "lo", " wor"]
AFTER = ["ld", "!"]
LIMITED_KEY = 'tether.limited:limitedsecretlimited={"*":["publish","subscribe","history"]}'
OWN_KEY = 'tether.own:ownsecretownsecret={"*":["publish","subscribe","history","message-update-own"]}'


def _actions(messages: list[dict[str, Any]]) -> list[str]:
    return [m["action"] for m in messages]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_realtime_stream_update_delete_and_reads(broker: BrokerProcess, fmt: str) -> None:
    result = run_scenario("mut_realtime.mjs", {
        **broker_params(broker), "format": fmt, "channel": "ai:mut-realtime",
        "tokensBeforeJoin": BEFORE, "tokensAfterJoin": AFTER, "updatedData": "replaced",
    }, brokers=(broker,))
    serial = result["serial"]
    versions = result["versionSerials"]
    assert len(versions) == len(BEFORE) + len(AFTER) + 1
    assert versions == sorted(versions) and all(v > serial for v in versions)
    assert serial < versions[0] < result["updateSerial"] < result["deleteSerial"]

    # The subscriber that saw the create gets every append as a fragment with the message's
    # serial and name, its own version serial and the create's timestamp (as Ably's do).
    early = result["early"]
    assert _actions(early) == ["message.create"] + ["message.append"] * len(versions) + \
        ["message.update", "message.delete"]
    create, appends = early[0], early[1:1 + len(versions)]
    assert create["serial"] == serial and create["name"] == "ai-output" and create["clientId"] == "agent"
    assert [m["data"] for m in appends] == BEFORE + AFTER + [""]
    assert [m["version"]["serial"] for m in appends] == versions
    assert all(m["serial"] == serial and m["timestamp"] == create["timestamp"] for m in appends)
    assert all(m["name"] == "ai-output" and m["clientId"] == "agent" for m in appends)
    assert appends[-1]["extras"]["ai"]["transport"]["status"] == "complete"

    # The late attacher's first delivery is the whole message so far, as message.update.
    late = result["late"]
    assert _actions(late)[:len(AFTER) + 1] == ["message.update"] + ["message.append"] * len(AFTER)
    assert late[0]["data"] == "".join(BEFORE + AFTER[:1]) and late[0]["name"] == "ai-output"
    assert late[0]["version"]["serial"] == versions[len(BEFORE)] and late[0]["serial"] == serial
    assert late[0]["extras"] == appends[0]["extras"] and late[0]["timestamp"] == create["timestamp"]
    assert "".join([late[0]["data"]] + [m["data"] for m in late[1:len(AFTER) + 1]]) == "".join(BEFORE + AFTER)

    # Reads show the aggregate: all tokens concatenated, the latest extras, the latest version.
    whole = "".join(BEFORE + AFTER)
    for read in (result["afterStream"], *result["historyAfterStream"]):
        assert (read["serial"], read["data"], read["name"]) == (serial, whole, "ai-output")
        assert read["action"] == "message.update" and read["version"]["serial"] == versions[-1]
        assert read["extras"]["ai"]["transport"]["status"] == "complete"
        assert read["timestamp"] == create["timestamp"]

    update, delete = early[-2], early[-1]
    assert update["data"] == "replaced" and update["version"]["serial"] == result["updateSerial"]
    assert update["version"]["description"] == "edited" and update["version"]["metadata"] == {"reason": "typo"}
    assert update["version"]["clientId"] == "agent"
    assert delete["version"]["serial"] == result["deleteSerial"] and delete["version"]["description"] == "removed"
    assert delete["data"] == "replaced", "a delete without data keeps the previous data"

    after = result["afterDelete"]
    assert (after["action"], after["data"], after["version"]["serial"]) == ("message.delete", "replaced",
                                                                              result["deleteSerial"])
    assert [(m["action"], m["serial"], m["data"]) for m in result["history"]] == \
        [("message.delete", serial, "replaced")]
    got_versions = result["versions"]
    assert [m["action"] for m in got_versions] == ["message.create", "message.update", "message.update",
                                                   "message.delete"]
    assert [m["data"] for m in got_versions] == ["", whole, "replaced", "replaced"]
    assert [m["version"]["serial"] for m in got_versions[1:]] == [versions[-1], result["updateSerial"],
                                                                  result["deleteSerial"]]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_rest_append_update_delete_reach_realtime_subscribers(broker: BrokerProcess, fmt: str) -> None:
    tokens = ["first", " second", " third"]
    result = run_scenario("mut_rest.mjs", {
        **broker_params(broker), "format": fmt, "channel": "docs:mut-rest", "tokens": tokens,
    }, brokers=(broker,))
    serial = result["serial"]
    appends, update, delete = result["appendSerials"], result["updateSerial"], result["deleteSerial"]
    assert serial < appends[0] < appends[1] < update < delete

    live = result["live"]
    assert _actions(live) == ["message.create", "message.append", "message.append", "message.update",
                              "message.delete"]
    assert [m["data"] for m in live[:3]] == tokens
    assert [m["extras"]["headers"]["v"] for m in live[:3]] == ["0", "1", "2"]
    assert [m["version"]["serial"] for m in live[1:]] == [*appends, update, delete]
    assert live[3]["name"] == "renamed" and live[3]["data"] == "".join(tokens)
    assert live[3]["version"]["description"] == "rename" and live[3]["version"]["clientId"] == "rest-writer"
    assert live[4]["version"]["metadata"] == {"by": "moderator"}

    assert (result["afterAppends"]["data"], result["afterAppends"]["extras"]) == ("".join(tokens),
                                                                                  {"headers": {"v": "2"}})
    after = result["afterDelete"]
    assert (after["action"], after["name"], after["version"]["serial"]) == ("message.delete", "renamed", delete)
    assert after["data"] in ("", None), "a delete that sets empty data clears it"
    assert [(m["action"], m["serial"]) for m in result["history"]] == [("message.delete", serial)]
    assert [m["action"] for m in result["versions"]] == ["message.create", "message.update", "message.update",
                                                         "message.delete"]
    assert [m["version"]["serial"] for m in result["versions"][1:]] == [appends[-1], update, delete]


def test_refused_mutations(broker_factory: type[BrokerProcess]) -> None:
    broker = broker_factory(keys=[TEST_KEY, LIMITED_KEY, OWN_KEY],
                            extra_args=["--channel-rules", '{"locked": {"mutableMessages": false}}']).start()
    limited, own = LIMITED_KEY.split("={")[0], OWN_KEY.split("={")[0]
    attempts = [
        {"label": "noCapRealtime", "channel": "open:e1", "op": "update", "key": limited},
        {"label": "noCapRest", "channel": "open:e2", "op": "append", "key": limited, "rest": True},
        {"label": "notOwnerRealtime", "channel": "open:e3", "op": "update", "key": own, "clientId": "bob"},
        {"label": "ownerRealtime", "channel": "open:e4", "op": "update", "key": own, "clientId": "alice"},
        {"label": "lockedRealtime", "channel": "locked:e5", "op": "append"},
        {"label": "lockedRest", "channel": "locked:e6", "op": "delete", "rest": True},
        {"label": "grow", "channel": "open:e7", "op": "append", "originalSize": 40_000, "appendSize": 30_000},
    ]
    result = run_scenario("mut_errors.mjs", {**broker_params(broker), "format": "json", "attempts": attempts},
                          brokers=(broker,))
    for label in ("noCapRealtime", "noCapRest", "notOwnerRealtime"):
        assert result[label]["error"]["code"] == 40160, result[label]
        assert result[label]["error"]["statusCode"] == 401
    for label in ("lockedRealtime", "lockedRest"):
        assert result[label]["error"]["code"] == 93002, result[label]
        assert result[label]["error"]["statusCode"] == 400
    assert result["grow"]["error"]["code"] == 40009, "the message after the append would exceed 64 KiB"
    refused = [label for label in result if label != "ownerRealtime"]
    assert all((result[label]["dataAfter"], result[label]["actionAfter"]) == ("original", "message.create")
               for label in refused), "a refused mutation must leave the message untouched"
    assert result["ownerRealtime"]["ok"]["versionSerial"]
    assert (result["ownerRealtime"]["dataAfter"], result["ownerRealtime"]["actionAfter"]) == ("changed",
                                                                                              "message.update")
