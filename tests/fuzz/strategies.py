"""Hypothesis strategies for what a hostile or careless client can put on the wire.

Values cover what JSON and msgpack can carry and what they cannot represent in the other format:
NaN and infinities, integers past 64 bits, deep nesting, bytes (msgpack only), odd encodings.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from broker.protocol.actions import Action

ACTIONS = [int(a) for a in Action]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))


def values(binary: bool) -> st.SearchStrategy[Any]:
    leaves = st.one_of(scalars, st.binary(max_size=40)) if binary else scalars
    keys = st.one_of(st.text(max_size=12), st.binary(max_size=8)) if binary else st.text(max_size=12)
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


def odd(binary: bool, usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the usual shape of a field, sometimes anything at all."""
    return st.one_of(usual, usual, usual, values(binary))


channel_names = st.one_of(st.just("fuzz"), st.sampled_from(["fuzz:a", "[?rewind=1]fuzz", "fuzz:*", ""]),
                          st.text(max_size=30))
encodings = st.one_of(st.none(), st.sampled_from(["json", "base64", "utf-8/base64", "json/base64", "cipher+aes",
                                                  "vcdiff", "utf-8"]), st.text(max_size=12))
serials = st.one_of(st.just(0), st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=6), st.none(),
                    st.floats())


def messages(binary: bool) -> st.SearchStrategy[dict[str, Any]]:
    data = st.one_of(st.text(max_size=40), values(binary))
    return st.fixed_dictionaries({}, optional={
        "name": odd(binary, st.text(max_size=20)),
        "data": data,
        "encoding": encodings,
        "extras": odd(binary, st.dictionaries(st.sampled_from(["headers", "ephemeral", "push", "ref", "x"]),
                                              values(binary), max_size=3)),
        "id": odd(binary, st.text(max_size=20)),
        "clientId": odd(binary, st.text(max_size=20)),
        "connectionId": values(binary),
        "timestamp": values(binary),
        "serial": odd(binary, st.text(max_size=30)),
        "action": odd(binary, st.integers(min_value=-2, max_value=9)),
        "version": values(binary),
    })


def protocol_messages(binary: bool) -> st.SearchStrategy[dict[str, Any]]:
    """ProtocolMessages: a real action most of the time, the fields a client may send, odd values."""
    presence = st.fixed_dictionaries({}, optional={
        "action": odd(binary, st.integers(min_value=0, max_value=5)),
        "clientId": odd(binary, st.text(max_size=12)),
        "data": values(binary), "encoding": encodings, "id": values(binary), "extras": values(binary)})
    return st.fixed_dictionaries(
        {"action": st.one_of(st.just(int(Action.MESSAGE)), st.just(int(Action.MESSAGE)), st.just(int(Action.PRESENCE)),
                             st.sampled_from(ACTIONS), st.sampled_from(ACTIONS), values(binary))},
        optional={
            "channel": odd(binary, channel_names),
            "msgSerial": serials,
            "messages": odd(binary, st.lists(messages(binary), max_size=3)),
            "presence": odd(binary, st.lists(presence, max_size=3)),
            "annotations": values(binary),
            "flags": odd(binary, st.integers(min_value=0, max_value=2**32)),
            "params": odd(binary, st.dictionaries(st.sampled_from(["rewind", "delta", "appendRollupWindow", "x"]),
                                                  st.text(max_size=8), max_size=2)),
            "channelSerial": values(binary),
            "connectionKey": values(binary),
            "auth": values(binary),
            "id": values(binary),
        })


rest_bodies = st.one_of(messages(False), st.lists(messages(False), max_size=3), values(False))
query_params = st.dictionaries(
    st.sampled_from(["limit", "start", "end", "direction", "untilAttach", "cursor", "format", "clientId",
                     "connectionId", "x"]),
    st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), st.text(max_size=12)), max_size=4)
