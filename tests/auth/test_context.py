from __future__ import annotations

import base64

import pytest

from broker.auth import (
    AuthContext,
    Capability,
    KeyStore,
    authenticate_basic,
    authenticate_bearer,
    for_inband_auth,
    issue_token,
    message_client_id,
    presence_client_id,
    reauthorise,
    resolve_client_id,
)
from broker.protocol.errors import AblyError
from tests.auth.forge import NOW_MS


def token_ctx(store: KeyStore, client_id: str | None, key: str = "tether.root") -> AuthContext:
    api_key = store.get(key)
    assert api_key is not None
    return authenticate_bearer(store, issue_token(api_key, client_id, None, 60_000, NOW_MS).token, NOW_MS, raw=True)


def code_of(fn: object, *args: object) -> int:
    with pytest.raises(AblyError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.code


# -- credential forms ---------------------------------------------------------------------


def test_bearer_accepts_base64_and_raw(store: KeyStore) -> None:
    chat = store.get("tether.chat")
    assert chat is not None
    token = issue_token(chat, "alice", Capability.parse({"chat:a": ["publish"]}), 60_000, NOW_MS).token
    b64 = base64.b64encode(token.encode()).decode()
    for ctx in (authenticate_bearer(store, b64, NOW_MS), authenticate_bearer(store, token, NOW_MS),
                authenticate_bearer(store, f" {token} ", NOW_MS), authenticate_bearer(store, token, NOW_MS, raw=True)):
        assert (ctx.key_name, ctx.client_id, ctx.method, ctx.token) == ("tether.chat", "alice", "token", token)
        assert ctx.expires_ms == NOW_MS + 60_000
        assert ctx.capability.allows("chat:a", "publish") and not ctx.capability.allows("chat:b", "publish")


def test_realtime_raw_tokens_are_not_base64_decoded(store: KeyStore) -> None:
    token = token_ctx(store, "alice").token
    assert token is not None
    assert code_of(authenticate_bearer, store, base64.b64encode(token.encode()).decode(), NOW_MS, True) == 40143


@pytest.mark.parametrize(("value", "code"), [
    ("!!!not-base64!!!", 40144),
    (base64.b64encode(b"opaque-native-token").decode(), 40143),
    (base64.b64encode(b"\xff\xfe").decode(), 40144),
    ("abc.def", 40143),
    ("a.b.c", 40144),
])
def test_bearer_garbage(store: KeyStore, value: str, code: int) -> None:
    error = code_of(authenticate_bearer, store, value, NOW_MS)
    assert error == code


def test_expired_bearer_is_40142(store: KeyStore) -> None:
    root = store.get("tether.root")
    assert root is not None
    token = issue_token(root, None, None, 1000, NOW_MS).token
    assert code_of(authenticate_bearer, store, token, NOW_MS + 1000) == 40142


# -- clientId resolution (§9.5 table) -----------------------------------------------------

BASIC = "tether.root:rootsecretrootsecret"


@pytest.mark.parametrize(("credential", "requested", "resolved"), [
    ("basic", None, "*"),
    ("basic", "X", "X"),
    (None, None, None),
    ("A", None, "A"),
    ("A", "A", "A"),
    ("*", None, "*"),
    ("*", "X", "X"),
])
def test_resolution_table(store: KeyStore, credential: str | None, requested: str | None, resolved: str | None) -> None:
    ctx = authenticate_basic(store, BASIC) if credential == "basic" else token_ctx(store, credential)
    assert resolve_client_id(ctx, requested) == resolved


@pytest.mark.parametrize(("credential", "requested", "code"), [
    (None, "X", 40102),
    ("A", "B", 40102),
    ("basic", "*", 40012),
    ("*", "*", 40012),
    ("A", "*", 40012),
    ("basic", "", 40012),
])
def test_resolution_rejections(store: KeyStore, credential: str | None, requested: str, code: int) -> None:
    ctx = authenticate_basic(store, BASIC) if credential == "basic" else token_ctx(store, credential)
    assert code_of(resolve_client_id, ctx, requested) == code


# -- per-message stamping -----------------------------------------------------------------


@pytest.mark.parametrize(("credential", "conn", "msg", "stamped"), [
    ("A", "A", None, "A"),
    ("A", "A", "A", "A"),
    ("*", "X", None, "X"),
    ("*", "X", "X", "X"),
    ("*", "*", None, None),
    ("*", "*", "bob", "bob"),
    ("basic", "*", "bob", "bob"),
    ("basic", "*", None, None),
    (None, None, None, None),
])
def test_message_client_id_stamping(store: KeyStore, credential: str | None, conn: str | None,
                                    msg: str | None, stamped: str | None) -> None:
    ctx = authenticate_basic(store, BASIC) if credential == "basic" else token_ctx(store, credential)
    assert message_client_id(ctx, conn, msg) == stamped


@pytest.mark.parametrize(("credential", "conn", "msg", "code"), [
    ("A", "A", "B", 40012),        # spoofing another identity
    ("A", "A", "*", 40012),
    ("*", "X", "Y", 40012),
    ("*", "*", "*", 40012),        # '*' is never a member identity
    ("*", "*", "", 40012),
    ("*", "*", 7, 40012),
    (None, None, "anyone", 40012),  # anonymous may not claim one
    ("A", "B", None, 40102),       # connection id drifted from its credential
])
def test_message_client_id_rejections(store: KeyStore, credential: str | None, conn: str | None,
                                      msg: object, code: int) -> None:
    assert code_of(message_client_id, token_ctx(store, credential), conn, msg) == code


def test_presence_needs_an_identity(store: KeyStore) -> None:
    assert presence_client_id(token_ctx(store, "A"), "A", None) == "A"
    assert presence_client_id(token_ctx(store, "*"), "*", "bob") == "bob"
    assert code_of(presence_client_id, token_ctx(store, None), None, None) == 91000
    assert code_of(presence_client_id, token_ctx(store, "*"), "*", None) == 91000
    assert code_of(presence_client_id, token_ctx(store, None), None, "bob") == 40012


# -- in-band re-authentication ------------------------------------------------------------


@pytest.mark.parametrize(("conn", "new", "result"), [
    ("A", "A", "A"),
    ("A", "*", "A"),
    (None, None, None),
    ("*", "*", "*"),
])
def test_reauth_keeping_identity(store: KeyStore, conn: str | None, new: str | None, result: str | None) -> None:
    assert reauthorise(conn, token_ctx(store, new)) == result


@pytest.mark.parametrize(("conn", "new"), [("A", "B"), ("A", None), (None, "A"), ("*", "A"), (None, "*"), ("*", None)])
def test_reauth_changing_identity_is_40102(store: KeyStore, conn: str | None, new: str | None) -> None:
    assert code_of(reauthorise, conn, token_ctx(store, new)) == 40102


def test_inband_auth_errors_are_made_fatal() -> None:
    mapped = for_inband_auth(AblyError(40142, 401, "Token expired"))
    assert (mapped.code, mapped.status_code, mapped.is_token_error) == (40101, 401, False)
    assert for_inband_auth(AblyError(40144, 401, "bad")).code == 40101
    assert for_inband_auth(AblyError(40160, 401, "denied")).code == 40160
