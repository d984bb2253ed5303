from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from broker.auth import Capability, KeyStore, issue_token, verify_jwt
from broker.protocol.errors import AblyError
from tests.auth.forge import NOW_MS, ably_claims, b64url, forge

ROOT_SECRET = "rootsecretrootsecret"
CHAT_SECRET = "chatsecretchatsecret"
HS256 = {"alg": "HS256", "typ": "JWT", "kid": "tether.root"}


def reject(store: KeyStore, token: str, now_ms: int = NOW_MS) -> AblyError:
    with pytest.raises(AblyError) as info:
        verify_jwt(store, token, now_ms)
    return info.value


def signed_raw(claims_json: str) -> str:
    """Claims given as raw JSON text (so they can be invalid), correctly signed with the root key."""
    head = b64url(json.dumps(HS256).encode())
    body = b64url(claims_json.encode())
    sig = b64url(hmac.new(ROOT_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def test_user_signed_jwt_is_accepted(store: KeyStore) -> None:
    cap = '{"chat:*":["publish","subscribe"]}'
    token = forge(HS256, ably_claims(**{"x-ably-capability": cap, "x-ably-clientId": "alice"}), ROOT_SECRET)
    details = verify_jwt(store, token, NOW_MS)
    assert details.key_name == "tether.root"
    assert details.client_id == "alice"
    assert details.capability.to_json() == cap
    assert details.issued == (NOW_MS // 1000) * 1000
    assert details.expires == (NOW_MS // 1000 + 3600) * 1000


def test_missing_capability_claim_inherits_the_key(store: KeyStore) -> None:
    details = verify_jwt(store, forge({**HS256, "kid": "tether.chat"}, ably_claims(), CHAT_SECRET), NOW_MS)
    assert details.capability == store.get("tether.chat").capability  # type: ignore[union-attr]
    assert details.client_id is None


def test_issued_token_round_trips_with_exact_sub_second_expiry(store: KeyStore) -> None:
    key = store.get("tether.root")
    assert key is not None
    issued = issue_token(key, "bob", Capability.parse({"chat:*": ["subscribe"]}), 1500, NOW_MS)
    assert (issued.issued, issued.expires) == (NOW_MS, NOW_MS + 1500)
    verified = verify_jwt(store, issued.token, NOW_MS + 1499)
    assert verified.expires == NOW_MS + 1500
    assert verified.client_id == "bob"
    assert verified.capability == issued.capability
    assert reject(store, issued.token, NOW_MS + 1500).code == 40142


def test_issued_token_wire_form(store: KeyStore) -> None:
    key = store.get("tether.chat")
    assert key is not None
    wire = issue_token(key, None, None, 60_000, NOW_MS).to_wire()
    assert set(wire) == {"token", "keyName", "issued", "expires", "capability"}
    assert (wire["keyName"], wire["issued"], wire["expires"]) == ("tether.chat", NOW_MS, NOW_MS + 60_000)
    assert json.loads(wire["capability"]) == {"chat:*": ["presence", "publish", "subscribe"], "news": ["subscribe"]}
    header = json.loads(base64.urlsafe_b64decode(wire["token"].split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT", "kid": "tether.chat"}


@pytest.mark.parametrize(("ttl", "code"), [(0, 40003), (-1, 40003), (24 * 3600 * 1000 + 1, 40003)])
def test_issue_rejects_bad_ttl(store: KeyStore, ttl: int, code: int) -> None:
    key = store.get("tether.root")
    assert key is not None
    with pytest.raises(AblyError) as info:
        issue_token(key, None, None, ttl, NOW_MS)
    assert info.value.code == code


def test_issue_rejects_empty_client_id_and_empty_intersection(store: KeyStore) -> None:
    key = store.get("tether.chat")
    assert key is not None
    with pytest.raises(AblyError) as info:
        issue_token(key, "", None, 1000, NOW_MS)
    assert info.value.code == 40012
    with pytest.raises(AblyError) as info:
        issue_token(key, None, Capability.parse({"admin": ["*"]}), 1000, NOW_MS)
    assert (info.value.code, info.value.status_code) == (40160, 401)


# -- adversarial -------------------------------------------------------------------------


def test_alg_none_is_rejected(store: KeyStore) -> None:
    token = forge({"alg": "none", "typ": "JWT", "kid": "tether.root"}, ably_claims(), None)
    assert reject(store, token).code == 40144


def test_alg_none_with_valid_hmac_signature_is_rejected(store: KeyStore) -> None:
    token = forge({"alg": "none", "kid": "tether.root"}, ably_claims(), ROOT_SECRET)
    assert reject(store, token).code == 40144


@pytest.mark.parametrize(("alg", "digest"), [
    ("HS384", hashlib.sha384),
    ("HS512", hashlib.sha512),
    ("RS256", hashlib.sha256),
    ("ES256", hashlib.sha256),
    ("PS256", hashlib.sha256),
    ("hs256", hashlib.sha256),
])
def test_other_algorithms_signed_with_the_secret_are_rejected(store: KeyStore, alg: str, digest: Any) -> None:
    """Alg confusion: the key secret used as an HMAC key under another algorithm's label."""
    token = forge({"alg": alg, "kid": "tether.root"}, ably_claims(), ROOT_SECRET, digest)
    error = reject(store, token)
    assert (error.code, error.status_code) == (40144, 401)


def test_tampered_payload_is_rejected(store: KeyStore) -> None:
    token = forge({**HS256, "kid": "tether.chat"}, ably_claims(**{"x-ably-clientId": "alice"}), CHAT_SECRET)
    head, _, sig = token.split(".")
    evil = b64url(json.dumps(ably_claims(**{"x-ably-clientId": "admin"})).encode())
    assert reject(store, f"{head}.{evil}.{sig}").code == 40144


def test_tampered_kid_is_rejected(store: KeyStore) -> None:
    """Signed by the narrow chat key, relabelled as the all-powerful root key."""
    token = forge({**HS256, "kid": "tether.chat"}, ably_claims(), CHAT_SECRET)
    _, body, sig = token.split(".")
    head = b64url(json.dumps(HS256).encode())
    assert reject(store, f"{head}.{body}.{sig}").code == 40144


def test_wrong_secret_is_rejected(store: KeyStore) -> None:
    assert reject(store, forge(HS256, ably_claims(), "not-the-secret")).code == 40144


@pytest.mark.parametrize("kid", ["tether.unknown", None, 42, ["tether.root"]])
def test_unknown_or_missing_kid_is_rejected(store: KeyStore, kid: object) -> None:
    header: dict[str, Any] = {"alg": "HS256"}
    if kid is not None:
        header["kid"] = kid
    assert reject(store, forge(header, ably_claims(), ROOT_SECRET)).code == 40144


def test_expired_is_40142(store: KeyStore) -> None:
    token = forge(HS256, ably_claims(exp=NOW_MS // 1000 - 1), ROOT_SECRET)
    error = reject(store, token)
    assert (error.code, error.status_code) == (40142, 401)
    assert error.is_token_error


def test_expiry_is_exact_to_the_millisecond(store: KeyStore) -> None:
    token = forge(HS256, ably_claims(exp=(NOW_MS + 1) / 1000), ROOT_SECRET)
    assert verify_jwt(store, token, NOW_MS).expires == NOW_MS + 1
    assert reject(store, token, NOW_MS + 1).code == 40142


def test_not_yet_valid_is_40144(store: KeyStore) -> None:
    token = forge(HS256, ably_claims(nbf=NOW_MS // 1000 + 60), ROOT_SECRET)
    assert reject(store, token).code == 40144
    assert verify_jwt(store, token, NOW_MS + 61_000).key_name == "tether.root"


@pytest.mark.parametrize("claims", [
    {"exp": NOW_MS // 1000 + 60},
    {"iat": NOW_MS // 1000},
    ably_claims(exp="tomorrow"),
    ably_claims(exp=True),
    ably_claims(iat=None, exp=None),
    ably_claims(nbf="now"),
])
def test_missing_or_malformed_time_claims_are_40144(store: KeyStore, claims: dict[str, Any]) -> None:
    assert reject(store, forge(HS256, claims, ROOT_SECRET)).code == 40144


def test_infinite_expiry_is_rejected(store: KeyStore) -> None:
    """Python's json accepts `Infinity`; a token must not become immortal through it."""
    assert reject(store, signed_raw(f'{{"iat": {NOW_MS // 1000}, "exp": Infinity}}')).code == 40144


@pytest.mark.parametrize("capability", ["not json", '{"*": "publish"}', '["*"]', {"*": ["*"]}, 7])
def test_malformed_capability_claim_is_40144(store: KeyStore, capability: object) -> None:
    token = forge(HS256, ably_claims(**{"x-ably-capability": capability}), ROOT_SECRET)
    assert reject(store, token).code == 40144


@pytest.mark.parametrize("client_id", ["", 5, ["alice"]])
def test_malformed_client_id_claim_is_40144(store: KeyStore, client_id: object) -> None:
    token = forge(HS256, ably_claims(**{"x-ably-clientId": client_id}), ROOT_SECRET)
    assert reject(store, token).code == 40144


def test_capability_wider_than_the_key_is_narrowed(store: KeyStore) -> None:
    token = forge({**HS256, "kid": "tether.chat"},
                  ably_claims(**{"x-ably-capability": '{"*":["*"]}'}), CHAT_SECRET)
    cap = verify_jwt(store, token, NOW_MS).capability
    assert cap == store.get("tether.chat").capability  # type: ignore[union-attr]
    assert not cap.allows("admin", "publish")
    assert not cap.allows("news", "publish")


def test_capability_disjoint_from_the_key_is_40160(store: KeyStore) -> None:
    token = forge({**HS256, "kid": "tether.chat"},
                  ably_claims(**{"x-ably-capability": '{"admin":["*"]}'}), CHAT_SECRET)
    error = reject(store, token)
    assert (error.code, error.status_code) == (40160, 401)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "....", "x" * (128 * 1024 + 1)])
def test_garbage_is_40144(store: KeyStore, token: str) -> None:
    assert reject(store, token).code == 40144


@pytest.mark.parametrize("claims_json", ["[" * 50_000 + "]" * 50_000, "[1, 2]", "not json"])
def test_signed_but_unusable_claims_are_40144(store: KeyStore, claims_json: str) -> None:
    assert reject(store, signed_raw(claims_json)).code == 40144
