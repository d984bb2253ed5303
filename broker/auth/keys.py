"""API keys (`appId.keyId:secret`) and the store the broker authenticates against."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..protocol.errors import AblyError
from .capability import Capability


def _unreadable(message: str) -> AblyError:
    return AblyError(40005, 400, f"Invalid key: {message}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """`name` is public (`appId.keyId`); the secret signs tokens and is kept out of repr/logs."""

    name: str
    secret: str = field(repr=False)
    capability: Capability = field(default_factory=Capability.everything)

    @property
    def app_id(self) -> str:
        return self.name.partition(".")[0]

    @property
    def key_string(self) -> str:
        return f"{self.name}:{self.secret}"


def split_key(text: str) -> tuple[str, str]:
    """`appId.keyId:secret` -> (keyName, secret); raises 40005 when not in that form."""
    name, colon, secret = text.partition(":")
    app_id, dot, key_id = name.partition(".")
    if not colon or not secret or not dot or not app_id or not key_id:
        raise _unreadable("expected appId.keyId:secret")
    if any(ch.isspace() for ch in text):
        raise _unreadable("keys may not contain whitespace")
    return name, secret


def parse_key_spec(spec: str) -> ApiKey:
    """Parse a configured key: `APPID.KEYID:SECRET` or `APPID.KEYID:SECRET={capability JSON}`.

    Without a capability the key may do everything (`{"*":["*"]}`). The capability begins at
    the first `={`, so a secret may not contain `{` (Ably secrets are base64 and never do).
    Example: `tether.chat:s3cret={"chat:*":["publish","subscribe"]}`.
    """
    key_text, brace, cap_text = spec.partition("={")
    name, secret = split_key(key_text)
    if not brace:
        return ApiKey(name, secret)
    capability = Capability.parse("{" + cap_text)
    if not capability:
        raise AblyError(40000, 400, f"Key {name} has an empty capability")
    return ApiKey(name, secret, capability)


def _check_app_id(app_id: str) -> None:
    # The app id scopes stored data (engine/scope): it may not hold the NUL that delimits it.
    if any(ord(ch) < 32 for ch in app_id):
        raise _unreadable("the appId may not contain control characters")


def split_key_list(text: str) -> list[str]:
    """Split `KEY[={capability}],KEY[={capability}],...` (as in BROKER_KEY) into key specs.

    Keys never contain `,` or `{`, so a comma outside a capability separates keys; each
    capability is read as one JSON object (commas inside it belong to it).
    """
    specs: list[str] = []
    decoder = json.JSONDecoder()
    pos, text = 0, text.strip()
    while pos < len(text):
        comma, brace = text.find(",", pos), text.find("={", pos)
        if brace != -1 and (comma == -1 or brace < comma):
            try:
                _, end = decoder.raw_decode(text, brace + 1)
            except json.JSONDecodeError as exc:
                name = text[pos:brace].partition(":")[0].strip()
                raise AblyError(40000, 400, f"Capability of key {name} is not valid JSON: {exc.msg} "
                                            f"at character {exc.pos - brace - 1}") from None
            spec = text[pos:end]
            pos = end
            if pos < len(text) and text[pos] != ",":
                raise _unreadable(f"expected ',' after the capability of {spec.partition(':')[0].strip()}")
        else:
            end = len(text) if comma == -1 else comma
            spec, pos = text[pos:end], end
        if spec.strip():
            specs.append(spec.strip())
        pos += 1  # the comma
    return specs


def parse_keys_file(text: str, source: str) -> list[str]:
    """Key specs from a keys file: one `APPID.KEYID:SECRET [CAPABILITY-JSON]` per line.

    The capability may follow after spaces or after `=`; blank lines and `#` comments are
    skipped. Each line is checked here so an error can name `source:line`.
    """
    specs: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, *rest = line.split(None, 1)
        spec = line if "={" in head or not rest else f"{head}={rest[0]}"
        try:
            parse_key_spec(spec)
        except AblyError as exc:
            raise AblyError(exc.code, exc.status_code, f"{source}:{number}: {exc.message}") from None
        specs.append(spec)
    return specs


class KeyStore:
    """Keys of one broker app, by key name; all keys share one appId (§9.1)."""


class KeyStore:
    """Keys by key name, of every app the broker serves; each key's app is the part of its name
    before the dot. Keys can be added and an app's keys removed while running (provisioning)."""

    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self._keys: dict[str, ApiKey] = {}
        self.add(keys)

    @classmethod
    def from_specs(cls, specs: Iterable[str]) -> KeyStore:
        return cls(parse_key_spec(spec) for spec in specs)

    def add(self, keys: Iterable[ApiKey]) -> None:
        """Add keys all at once, or none: a name configured twice raises ValueError."""
        batch: dict[str, ApiKey] = {}
        for key in keys:
            _check_app_id(key.app_id)
            if key.name in self._keys or key.name in batch:
                raise ValueError(f"Key {key.name} is configured twice")
            batch[key.name] = key
        self._keys.update(batch)

    def remove_app(self, app_id: str) -> list[ApiKey]:
        """Forget every key of `app_id`; returns them."""
        gone = [key for key in self._keys.values() if key.app_id == app_id]
        for key in gone:
            del self._keys[key.name]
        return gone

    @property
    def app_ids(self) -> set[str]:
        return {key.app_id for key in self._keys.values()}

    def get(self, name: str) -> ApiKey | None:
        return self._keys.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __iter__(self) -> Iterator[ApiKey]:
        return iter(list(self._keys.values()))

    def __len__(self) -> int:
        return len(self._keys)
