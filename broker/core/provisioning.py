"""Sandbox provisioning (`--sandbox`): apps created at runtime, as the SDK test suites do it.

`POST /apps` with the body of ably-common's `test-app-setup.json` (`post_apps`) makes an app:
one key per entry of `keys` (each with its capability, everything when it has none), channel
rules from `namespaces` (`mutableMessages`), and presence fixtures from `channels[].presence`,
entered as members of a connection of the broker's own that never leaves. The answer carries
what the suites read (appId, accountId, keys with keyName/keySecret/keyStr/capability and the
id/value pair ably-python reads, namespaces and channels echoed).

Provisioned apps are stored as an event log of the broker's own (`engine/scope.system_key`):
each creation is one message holding the app (its secrets too: the store is as private as the
keys file beside it), each deletion one message naming it. A broker started with `--sandbox`
replays that log, so its apps (and their data) survive a restart on SQLite.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..auth import ApiKey, Capability, KeyStore
from ..engine.base import HistoryQuery
from ..engine.scope import system_key
from ..protocol.actions import PresenceAction
from ..protocol.errors import AblyError, not_found
from ..protocol.message import Message
from ..protocol.presence import PresenceMessage
from ..protocol.serial import parse_serial
from .hub import Hub
from .rules import ChannelRule, ChannelRules

log = logging.getLogger("broker.sandbox")

REGISTRY = system_key("apps")
FIXTURE_CONNECTION = "sandboxfixtures"
MAX_KEYS = 100
_LOAD_PAGE = 1000
_ALPHANUMERIC = string.ascii_letters + string.digits


def _random_id(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def _bad_setup(message: str) -> AblyError:
    return AblyError(40000, 400, f"Invalid app setup: {message}")


def _list_of_objects(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _bad_setup(f"{name} must be an array of objects")
    return value


@dataclass(frozen=True, slots=True)
class ProvisionedKey:
    key_id: str
    secret: str
    capability: Capability
    extra: dict[str, Any] = field(default_factory=dict)  # echoed, not enforced (revocableTokens)


@dataclass(frozen=True, slots=True)
class ProvisionedApp:
    app_id: str
    account_id: str
    keys: list[ProvisionedKey]
    namespaces: list[dict[str, Any]]
    channels: list[dict[str, Any]]
    limits: dict[str, Any] | None = None

    def api_keys(self) -> list[ApiKey]:
        return [ApiKey(f"{self.app_id}.{k.key_id}", k.secret, k.capability) for k in self.keys]

    def rules(self, base: ChannelRules) -> ChannelRules:
        """The broker's rules, with this app's namespaces on top."""
        own = {ns["id"]: ChannelRule(mutable_messages=bool(ns.get("mutableMessages", True))) for ns in self.namespaces}
        return base.with_namespaces(own)

    def fixtures(self) -> dict[str, list[PresenceMessage]]:
        """Presence members to enter, by channel name."""
        out: dict[str, list[PresenceMessage]] = {}
        for channel in self.channels:
            out[channel["name"]] = [
                PresenceMessage(PresenceAction.ENTER, client_id=member["clientId"], connection_id=FIXTURE_CONNECTION,
                                data=member.get("data"), encoding=member.get("encoding"),
                                id=f"{FIXTURE_CONNECTION}:0:{index}")
                for index, member in enumerate(channel.get("presence", []))]
        return out

    def answer(self) -> dict[str, Any]:
        keys = []
        for k in self.keys:
            name = f"{self.app_id}.{k.key_id}"
            keys.append({**k.extra, "id": k.key_id, "value": k.secret, "keyName": name, "keySecret": k.secret,
                         "keyStr": f"{name}:{k.secret}", "capability": k.capability.to_json(), "status": 0})
        answer: dict[str, Any] = {"appId": self.app_id, "id": self.app_id, "accountId": self.account_id,
                                  "status": "enabled", "keys": keys, "namespaces": self.namespaces,
                                  "channels": self.channels}
        if self.limits is not None:
            answer["limits"] = self.limits
        return answer

    def to_record(self) -> dict[str, Any]:
        return {"appId": self.app_id, "accountId": self.account_id, "namespaces": self.namespaces,
                "channels": self.channels, "limits": self.limits,
                "keys": [{"id": k.key_id, "value": k.secret, "capability": k.capability.to_json(), "extra": k.extra}
                         for k in self.keys]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ProvisionedApp:
        keys = [ProvisionedKey(k["id"], k["value"], Capability.parse(k["capability"]), k.get("extra") or {})
                for k in record["keys"]]
        return cls(record["appId"], record["accountId"], keys, record["namespaces"], record["channels"],
                   record.get("limits"))


def parse_setup(body: object) -> ProvisionedApp:
    """A new app (fresh ids and secrets) from a `POST /apps` body; 40000 for a malformed one."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise _bad_setup("the body must be an object")
    specs = _list_of_objects(body, "keys") or [{}]
    if len(specs) > MAX_KEYS:
        raise _bad_setup(f"at most {MAX_KEYS} keys")
    keys = []
    for spec in specs:
        raw = spec.get("capability")
        if raw is not None and not isinstance(raw, (str, dict)):
            raise _bad_setup("a key's capability must be a JSON string or object")
        capability = Capability.parse(raw) if raw is not None else Capability.everything()
        extra = {k: v for k, v in spec.items() if k == "revocableTokens"}
        keys.append(ProvisionedKey(_random_id(6), secrets.token_urlsafe(32), capability, extra))
    namespaces = _list_of_objects(body, "namespaces")
    if not all(isinstance(ns.get("id"), str) and ns["id"] for ns in namespaces):
        raise _bad_setup("every namespace needs an id")
    channels = _list_of_objects(body, "channels")
    for channel in channels:
        if not isinstance(channel.get("name"), str) or not channel["name"]:
            raise _bad_setup("every channel needs a name")
        members = channel.get("presence", [])
        if not isinstance(members, list) or not all(
                isinstance(m, dict) and isinstance(m.get("clientId"), str) and m["clientId"]
                and isinstance(m.get("data", ""), str) and isinstance(m.get("encoding", ""), str) for m in members):
            raise _bad_setup(f"the presence of channel {channel['name']} must be members with a clientId")
    limits = body.get("limits")
    if limits is not None and not isinstance(limits, dict):
        raise _bad_setup("limits must be an object")
    return ProvisionedApp(_random_id(8), _random_id(8), keys, namespaces, channels, limits)


class Sandbox:
    """Creates and deletes apps at runtime; the keys, rules and fixtures of each live with it.

    `end_connections(app_id)` is the edge's part of a deletion: it ends the app's connections
    and returns once their presence leaves have run, before the app's data is dropped.
    """

    def __init__(self, hub: Hub, keys: KeyStore, rules: ChannelRules,
                 end_connections: Callable[[str], Awaitable[None]]) -> None:
        self._hub = hub
        self._keys = keys
        self._rules = rules
        self._end_connections = end_connections
        self.apps: dict[str, ProvisionedApp] = {}

    async def load(self) -> None:
        """Bring back the apps the store holds (a restart)."""
        apps: dict[str, ProvisionedApp] = {}
        query = HistoryQuery(direction="forwards", limit=_LOAD_PAGE)
        while True:
            entries = await self._hub.history(REGISTRY, query)
            for entry in entries:
                record = json.loads(str(entry.data))
                if entry.name == "create":
                    app = ProvisionedApp.from_record(record)
                    apps[app.app_id] = app
                else:
                    apps.pop(record["appId"], None)
            if len(entries) < _LOAD_PAGE:
                break
            last = entries[-1].serial or ""
            query = HistoryQuery(direction="forwards", limit=_LOAD_PAGE,
                                 cursor=(parse_serial(last)[0].seq, int(last.rpartition(":")[2])))
        for app in apps.values():
            await self._activate(app)
        if apps:
            log.info("sandbox: %d provisioned apps restored", len(apps))

    async def create(self, body: object) -> ProvisionedApp:
        app = parse_setup(body)
        await self._record("create", app.to_record())
        await self._activate(app)
        log.info("sandbox: app %s created with %d keys", app.app_id, len(app.keys))
        return app

    async def delete(self, app_id: str) -> None:
        """Remove a provisioned app, its keys, its connections and all its data."""
        if app_id not in self.apps:
            raise not_found(f"No provisioned app {app_id}")
        del self.apps[app_id]
        self._keys.remove_app(app_id)
        await self._end_connections(app_id)
        await self._record("delete", {"appId": app_id})
        removed = await self._hub.drop_app(app_id)
        log.info("sandbox: app %s deleted (%d stored messages removed)", app_id, removed)

    async def _activate(self, app: ProvisionedApp) -> None:
        self._keys.add(app.api_keys())
        self._hub.set_rules(app.app_id, app.rules(self._rules))
        self.apps[app.app_id] = app
        view = self._hub.app(app.app_id)
        for channel, members in app.fixtures().items():
            if members:
                await self._hub.presence_update(view.key(channel), members)

    async def _record(self, event: str, record: dict[str, Any]) -> None:
        await self._hub.append(REGISTRY, [Message(name=event, data=json.dumps(record))], [None])
