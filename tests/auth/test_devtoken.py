from __future__ import annotations

import pytest

from broker.auth import KeyStore, authenticate_bearer, dev_token, parse_ttl
from broker.protocol.errors import AblyError
from tests.auth.forge import NOW_MS


@pytest.mark.parametrize(("text", "ms"), [
    ("1h", 3_600_000), ("30m", 1_800_000), ("90s", 90_000), ("500ms", 500), ("1.5h", 5_400_000), (" 2m ", 120_000),
])
def test_parse_ttl(text: str, ms: int) -> None:
    assert parse_ttl(text) == ms


@pytest.mark.parametrize("text", ["", "60", "1d", "h", "-1h", "1 hour", "1e3s"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(AblyError) as info:
        parse_ttl(text)
    assert info.value.code == 40003


def test_dev_token_for_a_configured_key(store: KeyStore) -> None:
    token = dev_token(store, "tether.chat:chatsecretchatsecret", "alice", '{"chat:*":["*"]}', "30m", NOW_MS)
    ctx = authenticate_bearer(store, token, NOW_MS)
    assert (ctx.key_name, ctx.client_id, ctx.expires_ms) == ("tether.chat", "alice", NOW_MS + 1_800_000)
    # The configured key bounds the token even though the request asked for everything.
    assert ctx.capability.to_json() == '{"chat:*":["presence","publish","subscribe"]}'


def test_dev_token_defaults_to_the_key_capability_and_no_client_id(store: KeyStore) -> None:
    ctx = authenticate_bearer(store, dev_token(store, "tether.root:rootsecretrootsecret", None, None, "1h", NOW_MS), NOW_MS)
    assert ctx.client_id is None and ctx.capability.to_json() == '{"*":["*"]}'


def test_dev_token_without_a_store_uses_the_given_key_and_its_suffix() -> None:
    token = dev_token(None, 'app.k:sekrit={"a":["subscribe"]}', "*", None, "90s", NOW_MS)
    store = KeyStore.from_specs(["app.k:sekrit"])
    ctx = authenticate_bearer(store, token, NOW_MS)
    assert ctx.client_id == "*" and ctx.capability.to_json() == '{"a":["subscribe"]}'


@pytest.mark.parametrize(("key", "client_id", "capability", "ttl", "code"), [
    ("tether.root:wrong", None, None, "1h", 40101),
    ("tether.other:rootsecretrootsecret", None, None, "1h", 40101),
    ("not-a-key", None, None, "1h", 40005),
    ("tether.root:rootsecretrootsecret", "", None, "1h", 40012),
    ("tether.root:rootsecretrootsecret", None, "{bad", "1h", 40000),
    ("tether.chat:chatsecretchatsecret", None, '{"admin":["*"]}', "1h", 40160),
    ("tether.root:rootsecretrootsecret", None, None, "25h", 40003),
    ("tether.root:rootsecretrootsecret", None, None, "1y", 40003),
])
def test_dev_token_rejections(store: KeyStore, key: str, client_id: str | None, capability: str | None,
                              ttl: str, code: int) -> None:
    with pytest.raises(AblyError) as info:
        dev_token(store, key, client_id, capability, ttl, NOW_MS)
    assert info.value.code == code
