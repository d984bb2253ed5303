from __future__ import annotations

import pytest

from broker.auth import ApiKey, Capability, KeyStore, authenticate_basic, parse_key_spec
from broker.protocol.errors import AblyError


def test_plain_key_may_do_everything() -> None:
    key = parse_key_spec("app1.k1:s3cr3t")
    assert (key.name, key.secret, key.app_id) == ("app1.k1", "s3cr3t", "app1")
    assert key.capability == Capability.everything()
    assert key.key_string == "app1.k1:s3cr3t"


def test_key_with_capability_suffix() -> None:
    key = parse_key_spec('app1.k1:s3cr3t={"chat:*":["publish"]}')
    assert key.secret == "s3cr3t"
    assert key.capability.to_json() == '{"chat:*":["publish"]}'


def test_secret_never_appears_in_repr() -> None:
    key = parse_key_spec("app1.k1:topsecretvalue")
    assert "topsecretvalue" not in repr(key)
    assert "app1.k1" in repr(key)


@pytest.mark.parametrize(("spec", "code"), [
    ("app1.k1", 40005),
    ("app1.k1:", 40005),
    ("app1:secret", 40005),
    (".k1:secret", 40005),
    ("app1.:secret", 40005),
    ("app1.k1:sec ret", 40005),
    ('app1.k1:s={"chat:*":"publish"}', 40000),
    ("app1.k1:s={}", 40000),
])
def test_bad_key_specs(spec: str, code: int) -> None:
    with pytest.raises(AblyError) as info:
        parse_key_spec(spec)
    assert info.value.code == code


def test_store_lookup_and_app_id(store: KeyStore) -> None:
    assert store.app_ids == {"tether"}
    assert len(store) == 2
    assert "tether.chat" in store
    chat = store.get("tether.chat")
    assert chat is not None and chat.capability.allows("chat:x", "publish")
    assert not chat.capability.allows("news", "publish")
    assert store.get("tether.nope") is None


def test_store_holds_several_apps_and_rejects_duplicates() -> None:
    store = KeyStore([ApiKey("a.k", "s"), ApiKey("b.k", "s")])
    assert store.app_ids == {"a", "b"}
    with pytest.raises(ValueError, match="twice"):
        KeyStore([ApiKey("a.k", "s"), ApiKey("a.k", "t")])
    with pytest.raises(ValueError, match="twice"):
        store.add([ApiKey("c.k", "s"), ApiKey("a.k", "t")])
    assert "c.k" not in store  # all or nothing
    assert [k.name for k in store.remove_app("a")] == ["a.k"]
    assert store.app_ids == {"b"}


def test_store_refuses_an_app_id_with_control_characters() -> None:
    with pytest.raises(AblyError) as info:
        KeyStore([ApiKey("a\0b.k", "s")])
    assert info.value.code == 40005


def test_basic_auth_with_a_configured_key(store: KeyStore) -> None:
    ctx = authenticate_basic(store, "tether.chat:chatsecretchatsecret")
    assert (ctx.key_name, ctx.method, ctx.client_id, ctx.expires_ms, ctx.token) == (
        "tether.chat", "basic", "*", None, None)
    assert ctx.capability == store.get("tether.chat").capability  # type: ignore[union-attr]


@pytest.mark.parametrize("key_string", [
    "tether.root:wrongsecret",
    "tether.root:rootsecretrootsecre",
    "tether.root:rootsecretrootsecretX",
    "tether.root:",
    "tether.root",
    "tether.unknown:rootsecretrootsecret",
    "other.root:rootsecretrootsecret",
    "",
    'tether.root:rootsecretrootsecret={"*":["*"]}',
])
def test_basic_auth_rejections_are_40101(store: KeyStore, key_string: str) -> None:
    with pytest.raises(AblyError) as info:
        authenticate_basic(store, key_string)
    assert (info.value.code, info.value.status_code) == (40101, 401)
