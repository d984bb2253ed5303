from __future__ import annotations

import pytest

from broker.auth import KeyStore
from tests.auth.forge import NOW_MS

ROOT = "tether.root:rootsecretrootsecret"
CHAT = 'tether.chat:chatsecretchatsecret={"chat:*":["publish","subscribe","presence"],"news":["subscribe"]}'


@pytest.fixture
def store() -> KeyStore:
    """Two keys of one app: an all-powerful root key and a key scoped to chat channels."""
    return KeyStore.from_specs([ROOT, CHAT])


@pytest.fixture
def now_ms() -> int:
    return NOW_MS
