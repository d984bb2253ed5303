from __future__ import annotations

from typing import Any

import pytest

from broker.auth import (
    ApiKey,
    KeyStore,
    NonceCache,
    authenticate_basic,
    authenticate_bearer,
    create_token_request,
    issue_token,
    parse_key_spec,
    process_token_request,
    verify_jwt,
)
from broker.auth.token_request import mac_text, sign
from broker.protocol.errors import AblyError
from tests.auth.forge import NOW_MS

KAT_KEY = parse_key_spec("tether.kat:katsecret-0123456789abcdef")

# Known answers produced once by the real SDKs with the key above (not by our code):
#   ably-js 2.28.0: `new Ably.Rest({key}).auth.createTokenRequest({...})` in Node 20.
#   ably-python 3.1.4: `await AblyRest(key=...).auth.create_token_request({...})`.
JS_FULL: dict[str, Any] = {
    "keyName": "tether.kat",
    "ttl": 1500,
    "capability": '{"alpha":["history","presence","subscribe"],"chat:*":["publish","subscribe"]}',
    "clientId": "alice",
    "timestamp": 1718000000123,
    "nonce": "8391002847561923",
    "mac": "jAfj39JQMC2K7kpOYWKtgIlg/4S7bmr/f1OYuu89znw=",
}
JS_MINIMAL: dict[str, Any] = {
    "keyName": "tether.kat",
    "timestamp": 1718000000000,
    "nonce": "0000000000000042",
    "mac": "KcQ032JCl+L1BCmKkkoFaf3YUkGRe4whu8ujXiqqY7k=",
}
JS_UNICODE: dict[str, Any] = {
    "keyName": "tether.kat",
    "capability": '{"a":["subscribe"],"zé":["*"]}',
    "clientId": "böb",
    "ttl": 60000,
    "timestamp": 1718000000999,
    "nonce": "abcdefghijklmnop",
    "mac": "XJ745vnu7n0BMjXY3n7WVK5INKaS+sxzpEOwOoUauGs=",
}
# ably-python serialises capability with json.dumps defaults (spaces) and sends nulls.
PY_FULL: dict[str, Any] = {
    "keyName": "tether.kat",
    "clientId": "alice",
    "ttl": 1500,
    "nonce": "8391002847561923",
    "capability": '{"chat:*": ["publish", "subscribe"]}',
    "timestamp": 1718000000123,
    "mac": "bwytnty8MLAPc0w+FS4hauHNNo5dvKugxFWRDuJnkw8=",
}


@pytest.fixture
def kat_store() -> KeyStore:
    return KeyStore([KAT_KEY])


def test_create_matches_ably_js_field_for_field() -> None:
    made = create_token_request(
        KAT_KEY, 1718000000123, ttl_ms=1500, client_id="alice", nonce="8391002847561923",
        capability={"chat:*": ["subscribe", "publish"], "alpha": ["presence", "history", "subscribe"]},
    )
    assert made == JS_FULL
    assert create_token_request(KAT_KEY, 1718000000000, nonce="0000000000000042") == JS_MINIMAL
    unicode = create_token_request(KAT_KEY, 1718000000999, ttl_ms=60000, client_id="böb",
                                   capability='{"zé":["*"],"a":["subscribe"]}', nonce="abcdefghijklmnop")
    assert unicode == JS_UNICODE


def test_generated_nonce_is_16_digits_and_fresh() -> None:
    a = create_token_request(KAT_KEY, NOW_MS)
    b = create_token_request(KAT_KEY, NOW_MS)
    assert len(a["nonce"]) == 16 and a["nonce"].isdigit()
    assert a["nonce"] != b["nonce"] and a["mac"] != b["mac"]


def test_mac_text_layout() -> None:
    assert mac_text(JS_MINIMAL) == "tether.kat\n\n\n\n1718000000000\n0000000000000042\n"
    # Falsy numbers are signed as empty (ably-js `ttl || ''`); numeric strings as they are.
    assert mac_text({"keyName": "k", "ttl": 0, "timestamp": 5, "nonce": "n"}) == "k\n\n\n\n5\nn\n"
    assert mac_text({"keyName": "k", "ttl": "0", "timestamp": "5", "nonce": "n"}) == "k\n0\n\n\n5\nn\n"


@pytest.mark.parametrize("vector", [JS_FULL, JS_MINIMAL, JS_UNICODE, PY_FULL], ids=["js", "js-min", "js-utf8", "py"])
def test_sdk_vectors_are_accepted(kat_store: KeyStore, vector: dict[str, Any]) -> None:
    details = process_token_request(kat_store, dict(vector), NonceCache(), vector["timestamp"] + 1000)
    assert details.key_name == "tether.kat"
    assert details.client_id == vector.get("clientId")
    assert details.issued == vector["timestamp"] + 1000
    assert details.expires == details.issued + (vector.get("ttl") or 3_600_000)
    assert verify_jwt(kat_store, details.token, details.issued).capability == details.capability


def test_sdk_null_fields_are_absent(kat_store: KeyStore) -> None:
    body = {**JS_MINIMAL, "ttl": None, "capability": None, "clientId": None}
    details = process_token_request(kat_store, body, NonceCache(), JS_MINIMAL["timestamp"])
    assert details.client_id is None and details.expires - details.issued == 3_600_000


def test_numeric_strings_relayed_through_auth_url(kat_store: KeyStore) -> None:
    body = {"keyName": "tether.kat", "ttl": "90000", "timestamp": str(NOW_MS), "nonce": "x" * 16}
    body["mac"] = sign(body, KAT_KEY.secret)
    details = process_token_request(kat_store, body, NonceCache(), NOW_MS)
    assert details.expires == NOW_MS + 90000


def test_granted_capability_is_the_intersection_with_the_key(store: KeyStore) -> None:
    chat = store.get("tether.chat")
    assert chat is not None
    body = create_token_request(chat, NOW_MS, capability={"*": ["*"]})
    granted = process_token_request(store, body, NonceCache(), NOW_MS).to_wire()["capability"]
    assert granted == '{"chat:*":["presence","publish","subscribe"],"news":["subscribe"]}'


def rejected(store: KeyStore, body: object, now_ms: int = NOW_MS, nonces: NonceCache | None = None,
             **kwargs: Any) -> AblyError:
    with pytest.raises(AblyError) as info:
        process_token_request(store, body, nonces or NonceCache(), now_ms, **kwargs)
    return info.value


def signed(key: ApiKey, **fields: Any) -> dict[str, Any]:
    """A request with arbitrary (possibly invalid) fields and a correct mac over them."""
    body: dict[str, Any] = {"keyName": key.name, "timestamp": NOW_MS, "nonce": "n" * 16, **fields}
    body["mac"] = sign(body, key.secret)
    return body


def test_bad_mac_is_40101(kat_store: KeyStore) -> None:
    error = rejected(kat_store, {**JS_FULL, "mac": "AAAA" + JS_FULL["mac"][4:]}, JS_FULL["timestamp"])
    assert (error.code, error.status_code) == (40101, 401)


@pytest.mark.parametrize("field,value", [
    ("ttl", 86_400_000), ("clientId", "mallory"), ("capability", '{"*":["*"]}'), ("nonce", "9391002847561923"),
    ("timestamp", 1718000000124),
])
def test_any_tampered_field_breaks_the_mac(kat_store: KeyStore, field: str, value: Any) -> None:
    assert rejected(kat_store, {**JS_FULL, field: value}, JS_FULL["timestamp"]).code == 40101


def test_signed_with_another_secret_is_40101(kat_store: KeyStore) -> None:
    forged = create_token_request(ApiKey("tether.kat", "guessed"), NOW_MS)
    assert rejected(kat_store, forged).code == 40101


def test_unknown_key_name_is_40400(kat_store: KeyStore) -> None:
    body = create_token_request(ApiKey("tether.nokey", "whatever"), NOW_MS)
    error = rejected(kat_store, body)
    assert (error.code, error.status_code) == (40400, 404)


def test_key_name_must_match_the_path(kat_store: KeyStore) -> None:
    body = create_token_request(KAT_KEY, NOW_MS)
    assert rejected(kat_store, body, path_key_name="tether.other").code == 40101
    assert process_token_request(kat_store, body, NonceCache(), NOW_MS, path_key_name="tether.kat").key_name


@pytest.mark.parametrize("skew", [-120_001, 120_001, -10**9])
def test_stale_or_future_timestamp_is_40104(kat_store: KeyStore, skew: int) -> None:
    body = create_token_request(KAT_KEY, NOW_MS + skew)
    error = rejected(kat_store, body)
    assert (error.code, error.status_code) == (40104, 401)


@pytest.mark.parametrize("skew", [-120_000, 120_000])
def test_timestamp_at_the_window_edge_is_accepted(kat_store: KeyStore, skew: int) -> None:
    assert process_token_request(kat_store, create_token_request(KAT_KEY, NOW_MS + skew), NonceCache(), NOW_MS)


def test_replayed_nonce_is_40105(kat_store: KeyStore) -> None:
    nonces = NonceCache()
    body = create_token_request(KAT_KEY, NOW_MS)
    process_token_request(kat_store, dict(body), nonces, NOW_MS)
    error = rejected(kat_store, dict(body), NOW_MS + 5000, nonces)
    assert (error.code, error.status_code) == (40105, 401)
    # A fresh nonce with the same key is fine.
    assert process_token_request(kat_store, create_token_request(KAT_KEY, NOW_MS), nonces, NOW_MS + 5000)


def test_replay_after_the_window_is_stopped_by_the_timestamp(kat_store: KeyStore) -> None:
    nonces = NonceCache()
    body = create_token_request(KAT_KEY, NOW_MS)
    process_token_request(kat_store, dict(body), nonces, NOW_MS)
    assert rejected(kat_store, dict(body), NOW_MS + 120_001, nonces).code == 40104


def test_nonce_cache_forgets_only_expired_nonces_and_stays_bounded() -> None:
    cache = NonceCache(capacity=3, window_ms=1000)
    for i in range(3):
        cache.claim("k", f"n{i}", timestamp_ms=0, now_ms=0)
    with pytest.raises(AblyError) as info:
        cache.claim("k", "n3", timestamp_ms=0, now_ms=1000)
    assert info.value.code == 42910  # full of live nonces: refuse rather than forget one
    with pytest.raises(AblyError) as info:
        cache.claim("k", "n0", timestamp_ms=0, now_ms=1000)
    assert info.value.code == 40105
    cache.claim("k", "n3", timestamp_ms=1001, now_ms=1001)  # the three at t=0 have expired
    assert len(cache) == 1
    cache.claim("other-key", "n3", timestamp_ms=1001, now_ms=1001)  # nonces are per key


def test_failed_request_does_not_burn_its_nonce(store: KeyStore) -> None:
    chat = store.get("tether.chat")
    assert chat is not None
    nonces = NonceCache()
    assert rejected(store, create_token_request(chat, NOW_MS, capability={"admin": ["*"]}), nonces=nonces).code == 40160
    assert len(nonces) == 0


@pytest.mark.parametrize("ttl", [-1, "-5", 86_400_001, "abc", "1.5", 1.5, "1e3", "--5", "-", "9" * 5000, "١٢٣"])
def test_bad_ttl_is_40003(kat_store: KeyStore, ttl: Any) -> None:
    error = rejected(kat_store, signed(KAT_KEY, ttl=ttl))
    assert (error.code, error.status_code) == (40003, 400)


def test_max_ttl_is_accepted(kat_store: KeyStore) -> None:
    details = process_token_request(kat_store, signed(KAT_KEY, ttl=86_400_000), NonceCache(), NOW_MS)
    assert details.expires == NOW_MS + 86_400_000


@pytest.mark.parametrize("capability", ["{not json", '["*"]', '{"*":"publish"}', '{"*":[]}', "[" * 100_000])
def test_malformed_capability_is_40000(kat_store: KeyStore, capability: str) -> None:
    assert rejected(kat_store, signed(KAT_KEY, capability=capability)).code == 40000


def test_capability_outside_the_key_is_40160(store: KeyStore) -> None:
    chat = store.get("tether.chat")
    assert chat is not None
    error = rejected(store, signed(chat, capability='{"news":["publish"],"admin":["*"]}'))
    assert (error.code, error.status_code) == (40160, 401)


def test_empty_client_id_is_40012(kat_store: KeyStore) -> None:
    body = {**signed(KAT_KEY), "clientId": ""}
    body["mac"] = sign(body, KAT_KEY.secret)
    assert rejected(kat_store, body).code == 40012
    with pytest.raises(AblyError) as info:
        create_token_request(KAT_KEY, NOW_MS, client_id="")
    assert info.value.code == 40012


def test_wildcard_client_id_token(kat_store: KeyStore) -> None:
    details = process_token_request(kat_store, create_token_request(KAT_KEY, NOW_MS, client_id="*"), NonceCache(), NOW_MS)
    assert details.client_id == "*"


@pytest.mark.parametrize("nonce", [None, "short", 1234567890123456789])
def test_signed_request_needs_a_16_char_nonce(kat_store: KeyStore, nonce: Any) -> None:
    body = {"keyName": "tether.kat", "timestamp": NOW_MS, "nonce": nonce}
    body["mac"] = sign(body, KAT_KEY.secret)
    assert rejected(kat_store, body).code == 40003


@pytest.mark.parametrize("body,code", [
    ([], 40001),
    ("keyName", 40001),
    ({}, 40001),
    ({"keyName": 5}, 40001),
    ({"keyName": "tether.kat", "ttl": {"$gt": 0}, "mac": "x"}, 40001),
    ({"keyName": "tether.kat", "ttl": True, "mac": "x"}, 40001),
    ({"keyName": "tether.kat", "mac": 5}, 40101),
])
def test_malformed_bodies(kat_store: KeyStore, body: object, code: int) -> None:
    assert rejected(kat_store, body).code == code


def test_unsigned_request_needs_basic_auth_with_the_same_key(store: KeyStore) -> None:
    body = {"keyName": "tether.chat", "clientId": "carol", "ttl": 1000}
    assert rejected(store, body).code == 40101
    root = authenticate_basic(store, "tether.root:rootsecretrootsecret")
    assert rejected(store, body, caller=root).code == 40101
    chat = authenticate_basic(store, "tether.chat:chatsecretchatsecret")
    details = process_token_request(store, body, NonceCache(), NOW_MS, caller=chat)
    assert (details.client_id, details.expires) == ("carol", NOW_MS + 1000)


def test_unsigned_request_from_a_token_holder_is_refused(store: KeyStore) -> None:
    """A token can't mint itself a fresh (longer-lived or re-scoped) token."""
    chat = store.get("tether.chat")
    assert chat is not None
    token_ctx = authenticate_bearer(store, issue_token(chat, "dave", None, 60_000, NOW_MS).token, NOW_MS)
    assert rejected(store, {"keyName": "tether.chat"}, caller=token_ctx).code == 40101
