"""Token auth against a real broker: auth_callback, auth_url, TokenRequests, expiry and renewal."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest

from client import AblyError, ConnectionEvent, ConnectionState, Rest, TokenDetails, TokenParams
from tests.client.conftest import WAIT, RealtimeFactory, first, take
from tests.support.broker import BrokerProcess


def make_jwt(key: str, *, expires: float, client_id: str | None = None,
             capability: str = '{"*":["*"]}') -> str:
    """An Ably JWT signed with `key`, made here with pyjwt so broker code cannot hide a bug."""
    key_name, secret = key.split(":", 1)
    claims: dict[str, Any] = {"iat": int(time.time()), "exp": int(expires), "x-ably-capability": capability}
    if client_id is not None:
        claims["x-ably-clientId"] = client_id
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)  # the test key's secret is short
        return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": key_name})


class CountingCallback:
    """An auth_callback that records each call and hands out tokens from `mint`."""

    def __init__(self, mint: Callable[[], str]) -> None:
        self.mint = mint
        self.calls: list[TokenParams] = []

    async def __call__(self, params: TokenParams) -> str:
        self.calls.append(params)
        return self.mint()


async def test_auth_callback_token_sets_identity(realtime_factory: RealtimeFactory, broker: BrokerProcess) -> None:
    callback = CountingCallback(lambda: make_jwt(broker.key, expires=time.time() + 600, client_id="bob"))
    client = await realtime_factory(auth_callback=callback)
    assert client.client_id == "bob"
    channel = client.channels.get(f"auth-{uuid.uuid4().hex[:8]}")
    stream = channel.messages()
    await stream.started()
    await channel.publish("hi", "from bob")
    [message] = await take(stream, 1)
    assert message.client_id == "bob"
    assert len(callback.calls) == 1


async def test_server_requested_reauth_is_done_in_band(realtime_factory: RealtimeFactory,
                                                       broker: BrokerProcess) -> None:
    callback = CountingCallback(lambda: make_jwt(broker.key, expires=time.time() + 3))
    client = await realtime_factory(auth_callback=callback)
    connection_id = client.connection.id
    changes = client.connection.state_changes()
    update = await first(changes, lambda c: c.event is ConnectionEvent.UPDATE)
    assert update.current is ConnectionState.CONNECTED
    assert client.connection.id == connection_id
    assert len(callback.calls) >= 2
    assert await client.connection.ping() > 0


async def test_expired_token_is_renewed_and_the_connection_resumed(realtime_factory: RealtimeFactory,
                                                                   broker: BrokerProcess) -> None:
    calls = 0

    def mint() -> str:
        # A short first token; the renewal the server asks for ahead of expiry fails (the auth
        # server is "down"), so the token expires and the 40142 path must renew it.
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("auth server unavailable")
        return make_jwt(broker.key, expires=time.time() + (2 if calls == 1 else 600))

    callback = CountingCallback(mint)
    client = await realtime_factory(auth_callback=callback)
    connection_id = client.connection.id
    name = f"renew-{uuid.uuid4().hex[:8]}"
    stream = client.channels.get(name).messages()
    await stream.started()
    changes = client.connection.state_changes()

    lost = await first(changes, lambda c: c.current is ConnectionState.DISCONNECTED)
    assert lost.reason is not None and lost.reason.code == 40142
    await first(changes, lambda c: c.current is ConnectionState.CONNECTED)
    assert client.connection.id == connection_id
    assert calls == 3
    await client.channels.get(name).publish("after", "renewal")
    assert [m.data for m in await take(stream, 1)] == ["renewal"]


async def test_client_authorize_reauthenticates_in_band(realtime_factory: RealtimeFactory,
                                                        broker: BrokerProcess) -> None:
    callback = CountingCallback(lambda: make_jwt(broker.key, expires=time.time() + 600))
    client = await realtime_factory(auth_callback=callback)
    connection_id = client.connection.id
    changes = client.connection.state_changes()
    details = await client.auth.authorize()
    assert isinstance(details, TokenDetails) and details.token
    update = await first(changes, lambda c: c.event is ConnectionEvent.UPDATE)
    assert update.current is ConnectionState.CONNECTED and client.connection.id == connection_id
    assert len(callback.calls) == 2


async def test_expired_static_token_fails_as_not_renewable(realtime_factory: RealtimeFactory,
                                                           broker: BrokerProcess) -> None:
    client = await realtime_factory(token=make_jwt(broker.key, expires=time.time() - 60), connect=False)
    with pytest.raises(AblyError) as caught:
        await client.connect()
    assert caught.value.code == 40171
    assert client.connection.state is ConnectionState.FAILED


async def test_static_token_over_realtime_and_rest(realtime_factory: RealtimeFactory,
                                                   rest_factory: Callable[..., Rest], broker: BrokerProcess) -> None:
    token = make_jwt(broker.key, expires=time.time() + 600, client_id="dana")
    client = await realtime_factory(token=token)
    assert client.client_id == "dana"
    rest = rest_factory(token=token)
    name = f"static-{uuid.uuid4().hex[:8]}"
    await rest.channels.get(name).publish("via", "rest")
    [message] = (await client.channels.get(name).history()).items
    assert (message.data, message.client_id) == ("rest", "dana")


async def test_token_request_signed_here_is_exchanged_by_the_broker(realtime_factory: RealtimeFactory,
                                                                    rest_factory: Callable[..., Rest]) -> None:
    issuer = rest_factory()
    requests: list[dict[str, Any]] = []

    async def callback(params: TokenParams) -> dict[str, Any]:
        request = await issuer.auth.create_token_request(
            TokenParams(client_id="carol", capability={"*": ["publish", "subscribe", "history"]}))
        requests.append(request.to_dict())
        return request.to_dict()

    client = await realtime_factory(auth_callback=callback)
    assert client.client_id == "carol"
    assert requests and requests[0]["capability"] == '{"*":["history","publish","subscribe"]}'
    details = await issuer.request_token(TokenParams(ttl=60_000))
    assert details.token and details.expires is not None and details.expires > time.time() * 1000


async def test_key_with_use_token_auth_gets_its_own_token(rest_factory: Callable[..., Rest]) -> None:
    rest = rest_factory(use_token_auth=True, client_id="erin")
    name = f"tokenauth-{uuid.uuid4().hex[:8]}"
    await rest.channels.get(name).publish("x", "y")
    assert rest.auth.method == "token" and rest.auth.token_details is not None
    [message] = (await rest.channels.get(name).history()).items
    assert message.client_id == "erin"


@pytest.fixture
def auth_server(broker: BrokerProcess) -> Iterator[tuple[str, list[str]]]:
    """An HTTP endpoint that hands out JWTs for the broker's key, as an app's auth server would."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.path)
            body = make_jwt(broker.key, expires=time.time() + 600, client_id="frank").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/jwt")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token", seen
    server.shutdown()
    thread.join(WAIT)


async def test_auth_url_supplies_the_token(realtime_factory: RealtimeFactory,
                                           auth_server: tuple[str, list[str]]) -> None:
    url, seen = auth_server
    client = await realtime_factory(auth_url=url, auth_params={"room": "lobby"})
    assert client.client_id == "frank"
    assert len(seen) == 1 and "room=lobby" in seen[0]
    await asyncio.wait_for(client.connection.ping(), WAIT)
