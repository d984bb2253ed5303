"""Plain REST reads for assertions: history straight from the broker, every page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests.support.broker import BrokerProcess

TIMEOUT = 10.0


def history(broker: BrokerProcess, channel: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Every message of `channel`, oldest first, following `next` links."""
    user, _, password = broker.key.partition(":")
    items: list[dict[str, Any]] = []
    url: str | None = f"{broker.http_url}/channels/{quote(channel, safe='')}/messages?direction=forwards&limit={limit}"
    with httpx.Client(auth=(user, password), timeout=TIMEOUT) as client:
        while url is not None:
            response = client.get(url)
            response.raise_for_status()
            items += response.json()
            nxt = response.links.get("next")
            url = str(httpx.URL(url).join(nxt["url"])) if nxt else None
    return items
