"""Two apps on one broker: their keys, credentials and clients."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import httpx

from broker.auth import ApiKey, Capability, issue_token, parse_key_spec
from broker.protocol.actions import Action
from tests.support.broker import BrokerProcess
from tests.support.wire import WireClient

ALPHA = "alpha.k1:alphasecretalphasecret"
BETA = "beta.k1:betasecretbetasecret"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class App:
    """One app's key on `broker`, and the ways a client of that app talks to it."""

    broker: BrokerProcess
    key_string: str

    @property
    def key(self) -> ApiKey:
        return parse_key_spec(self.key_string)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(self.key_string.encode()).decode()}

    def jwt(self, client_id: str | None = None) -> str:
        return issue_token(self.key, client_id, Capability.parse('{"*":["*"]}'), 3_600_000, now_ms()).token

    def bearer(self, client_id: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + base64.b64encode(self.jwt(client_id).encode()).decode()}

    def url(self, path: str) -> str:
        return f"{self.broker.http_url}{path}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.headers)
        return httpx.get(self.url(path), timeout=10, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.headers)
        return httpx.post(self.url(path), json=body, timeout=10, **kwargs)

    def history(self, channel: str) -> list[dict[str, Any]]:
        resp = self.get(f"/channels/{channel}/messages")
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    async def connect(self, *, token: str | None = None, **params: str) -> tuple[WireClient, dict[str, Any]]:
        auth = {"accessToken": token} if token is not None else {"key": self.key_string}
        client = await WireClient.open(self.broker.ws_url, "json", **auth, **params)
        return client, await client.connected()


async def published(client: WireClient, channel: str, data: Any, **message: Any) -> str:
    """Publish one message; returns its serial once ACKed."""
    ack = await client.ack(await client.publish(channel, [{"data": data, **message}]))
    assert ack["action"] == Action.ACK, ack
    return ack["res"][0]["serials"][0]  # type: ignore[no-any-return]


def data_of(frames: list[dict[str, Any]], action: int) -> list[Any]:
    return [m.get("data") for f in frames if f.get("action") == action for m in f.get("messages") or []]
