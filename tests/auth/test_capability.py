from __future__ import annotations

import pytest

from broker.auth import OPERATIONS, Capability
from broker.protocol.actions import DEFAULT_MODES, Flag
from broker.protocol.errors import AblyError

MATCHES = [
    # resource, channel, matches?
    ("*", "foo", True),
    ("*", "foo:bar:baz", True),
    ("*", "[meta]log", False),
    ("*", "[queue]q1", False),
    ("*", "[?rewind=1]foo", True),
    ("foo", "foo", True),
    ("foo", "foo:bar", False),
    ("foo", "fo", False),
    ("ns:*", "ns:a", True),
    ("ns:*", "ns:a:b", True),
    ("ns:*", "ns", False),
    ("ns:*", "nsx:a", False),
    ("ns:*", "other:ns:a", False),
    ("a:*:c", "a:x:c", True),
    ("a:*:c", "a:x:y:c", False),
    ("a:*:c", "a:x:d", False),
    ("a:*:c", "a:x", False),
    ("*:b", "a:b", True),
    ("*:b", "a:c:b", False),
    ("foo*", "foo*", True),
    ("foo*", "foobar", False),
    ("foo*", "foo", False),
    ("a:b*", "a:bc", False),
    ("a:b*", "a:b*", True),
    ("*foo", "xfoo", False),
    ("[*]*", "foo", True),
    ("[*]*", "foo:bar", True),
    ("[*]*", "[meta]log", True),
    ("[*]*", "[queue]q1", True),
    ("[meta]*", "[meta]log", True),
    ("[meta]*", "log", False),
    ("[meta]*", "[queue]q1", False),
    ("[meta]log", "[meta]log", True),
    ("[meta]log", "[meta]other", False),
    ("[queue]*", "[queue]q1", True),
    ("[queue]*", "q1", False),
    ("[*]chat:*", "[meta]chat:a", True),
    ("[*]chat:*", "chat:a", True),
    ("[*]chat:*", "news:a", False),
]


@pytest.mark.parametrize(("resource", "channel", "expected"), MATCHES)
def test_resource_matching(resource: str, channel: str, expected: bool) -> None:
    cap = Capability.parse({resource: ["publish"]})
    assert cap.allows(channel, "publish") is expected
    assert (cap.operations(channel) == {"publish"}) is expected


def test_operations_are_the_union_of_matching_resources() -> None:
    cap = Capability.parse({"*": ["subscribe"], "chat:*": ["publish"], "chat:a": ["presence"], "news": ["history"]})
    assert cap.operations("chat:a") == {"subscribe", "publish", "presence"}
    assert cap.operations("chat:b") == {"subscribe", "publish"}
    assert cap.operations("news") == {"subscribe", "history"}
    assert cap.operations("[meta]x") == frozenset()


def test_star_operation_means_every_operation() -> None:
    cap = Capability.parse({"chat:*": ["*"]})
    assert cap.operations("chat:x") == OPERATIONS
    for op in OPERATIONS:
        assert cap.allows("chat:x", op)
    assert not cap.allows("other", "subscribe")


def test_unknown_operations_are_kept_but_grant_nothing_known() -> None:
    cap = Capability.parse({"a": ["future-op"]})
    assert cap.allows("a", "future-op")
    assert not any(cap.allows("a", op) for op in OPERATIONS)
    assert cap.modes_for("a", 0) == Flag(0)


@pytest.mark.parametrize("bad", [
    "not json",
    "[1, 2]",
    '"*"',
    '{"*": "publish"}',
    '{"*": []}',
    '{"*": [1]}',
    '{"*": [""]}',
    '{"": ["publish"]}',
    '{"*": null}',
    "[" * 100_000 + "]" * 100_000,
])
def test_malformed_capability_is_40000(bad: str) -> None:
    with pytest.raises(AblyError) as info:
        Capability.parse(bad)
    assert (info.value.code, info.value.status_code) == (40000, 400)


def test_to_json_is_canonical_like_ably_js_c14n() -> None:
    cap = Capability.parse('{"zeta":["subscribe","publish"],"alpha":["presence","history","subscribe"], "chat:*" : ["*"]}')
    assert cap.to_json() == '{"alpha":["history","presence","subscribe"],"chat:*":["*"],"zeta":["publish","subscribe"]}'
    assert Capability.parse(cap.to_json()) == cap


def test_to_json_sorts_by_utf16_code_units_like_javascript() -> None:
    # U+1F600 is a surrogate pair (0xD83D...) and sorts before U+FF21 in JavaScript,
    # although its code point is larger.
    cap = Capability.parse({"\uff21": ["subscribe"], "\U0001f600": ["subscribe"], "é": ["subscribe"]})
    assert list(cap.to_dict()) == ["é", "\U0001f600", "\uff21"]
    assert '"é"' in cap.to_json()


INTERSECTIONS = [
    # token, key, expected
    ({"*": ["*"]}, {"*": ["*"]}, {"*": ["*"]}),
    ({"*": ["*"]}, {"chat:*": ["publish", "subscribe"]}, {"chat:*": ["publish", "subscribe"]}),
    ({"chat:*": ["*"]}, {"*": ["subscribe"]}, {"chat:*": ["subscribe"]}),
    ({"chat:a": ["publish", "history"]}, {"chat:*": ["publish", "subscribe"]}, {"chat:a": ["publish"]}),
    ({"chat:*": ["publish"]}, {"chat:a": ["*"]}, {"chat:a": ["publish"]}),
    ({"news": ["publish"]}, {"chat:*": ["*"]}, {}),
    ({"chat:*": ["history"]}, {"chat:*": ["publish"]}, {}),
    ({"a:*:c": ["subscribe"]}, {"a:b:*": ["subscribe"]}, {"a:b:c": ["subscribe"]}),
    ({"*": ["*"]}, {"[*]*": ["subscribe"]}, {"*": ["subscribe"]}),
    ({"[*]*": ["*"]}, {"*": ["publish"], "[meta]*": ["subscribe"]}, {"*": ["publish"], "[meta]*": ["subscribe"]}),
    ({"[meta]*": ["*"]}, {"*": ["*"]}, {}),
    ({"ns:*": ["*"]}, {"ns:a:*": ["publish"]}, {"ns:a:*": ["publish"]}),
    ({"foo*": ["*"]}, {"*": ["publish"]}, {"foo*": ["publish"]}),
    ({"foo*": ["*"]}, {"foo:*": ["publish"]}, {}),
]


@pytest.mark.parametrize(("token", "key", "expected"), INTERSECTIONS)
def test_intersection(token: dict[str, list[str]], key: dict[str, list[str]], expected: dict[str, list[str]]) -> None:
    result = Capability.parse(token).intersect(Capability.parse(key))
    assert result.to_dict() == expected
    assert bool(result) is bool(expected)


@pytest.mark.parametrize(("token", "key", "_"), INTERSECTIONS)
def test_intersection_never_grants_what_either_side_denies(
    token: dict[str, list[str]], key: dict[str, list[str]], _: object
) -> None:
    a, b = Capability.parse(token), Capability.parse(key)
    both = a.intersect(b)
    for channel in ["chat:a", "chat:b:c", "a:b:c", "news", "ns:a:x", "foo*", "[meta]log", "other"]:
        for op in OPERATIONS:
            assert both.allows(channel, op) == (a.allows(channel, op) and b.allows(channel, op)), (channel, op)


@pytest.mark.parametrize(("narrow", "wide", "subset"), [
    ({"chat:a": ["publish"]}, {"chat:*": ["publish", "subscribe"]}, True),
    ({"chat:*": ["publish"]}, {"chat:a": ["*"]}, False),
    ({"chat:a": ["*"]}, {"*": ["publish"]}, False),
    ({"chat:a": ["*"]}, {"[*]*": ["*"]}, True),
    ({"[meta]x": ["subscribe"]}, {"*": ["*"]}, False),
    ({"a:x:c": ["subscribe"]}, {"a:*:c": ["subscribe"]}, True),
    ({"a:*:c": ["subscribe"]}, {"a:x:c": ["subscribe"]}, False),
])
def test_subset_and_wider(narrow: dict[str, list[str]], wide: dict[str, list[str]], subset: bool) -> None:
    a, b = Capability.parse(narrow), Capability.parse(wide)
    assert a.is_subset_of(b) is subset
    assert a.wider_than(b) is not subset


@pytest.mark.parametrize(("ops", "requested", "granted"), [
    (["*"], 0, DEFAULT_MODES),
    (["publish"], 0, Flag.PUBLISH),
    (["subscribe"], 0, Flag.SUBSCRIBE | Flag.PRESENCE_SUBSCRIBE),
    (["presence"], 0, Flag.PRESENCE),
    (["history"], 0, Flag(0)),
    (["*"], int(Flag.SUBSCRIBE), Flag.SUBSCRIBE),
    (["publish"], int(Flag.SUBSCRIBE | Flag.PUBLISH), Flag.PUBLISH),
    (["annotation-publish", "annotation-subscribe"], 0, Flag.ANNOTATION_PUBLISH),
    (["annotation-subscribe"], int(Flag.ANNOTATION_SUBSCRIBE | Flag.SUBSCRIBE), Flag.ANNOTATION_SUBSCRIBE),
    (["object-publish", "object-subscribe"], int(Flag.OBJECT_PUBLISH | Flag.OBJECT_SUBSCRIBE),
     Flag.OBJECT_PUBLISH | Flag.OBJECT_SUBSCRIBE),
    (["*"], int(Flag.OBJECT_SUBSCRIBE), Flag.OBJECT_SUBSCRIBE),
    # Non-mode flag bits in ATTACH (e.g. ATTACH_RESUME) neither count as a request nor leak out.
    (["*"], int(Flag.ATTACH_RESUME), DEFAULT_MODES),
    (["*"], int(Flag.ATTACH_RESUME | Flag.PUBLISH), Flag.PUBLISH),
])
def test_modes_for(ops: list[str], requested: int, granted: Flag) -> None:
    cap = Capability.parse({"chat:*": ops})
    assert cap.modes_for("chat:x", requested) == granted
    assert cap.modes_for("elsewhere", requested) == Flag(0)


def test_everything_is_the_default_key_capability() -> None:
    assert Capability.everything().to_json() == '{"*":["*"]}'
    assert not Capability.everything().allows("[meta]log", "subscribe")
