"""The invocation: the pointer a client POSTs to an agent so it finds its trigger on the channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ..codec.errors import AitError, ErrorCode


@dataclass(frozen=True, slots=True)
class Invocation:
    """JS `Invocation`; the wire keys stay camelCase: {"inputEventId", "sessionName"}."""

    input_event_id: str
    session_name: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Invocation:
        event_id, name = data.get("inputEventId"), data.get("sessionName")
        if not isinstance(event_id, str) or not isinstance(name, str):
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                           "unable to read invocation; inputEventId and sessionName must be strings")
        return cls(event_id, name)

    def to_json(self) -> dict[str, str]:
        return {"inputEventId": self.input_event_id, "sessionName": self.session_name}


async def invoke_agent(invocation: Invocation, url: str, *, http: httpx.AsyncClient | None = None,
                       extra_body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                       timeout: float = 10.0) -> dict[str, Any]:
    """POST the invocation body to an agent (the JS ChatTransport's job); returns its JSON reply.

    A network error or non-2xx answer raises SessionSendFailed (104005); the channel is untouched.
    """
    body = {**(extra_body or {}), **invocation.to_json()}
    client = http or httpx.AsyncClient(timeout=timeout)
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise AitError(ErrorCode.SESSION_SEND_FAILED, 500, f"unable to invoke agent at {url}; {exc}", exc) from exc
    finally:
        if http is None:
            await client.aclose()
    if not response.is_success:
        raise AitError(ErrorCode.SESSION_SEND_FAILED, 500,
                       f"unable to invoke agent at {url}; HTTP {response.status_code}: {response.text[:200]}")
    try:
        reply = response.json()
    except ValueError:
        return {}
    return reply if isinstance(reply, dict) else {}
