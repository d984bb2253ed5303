"""Channel rules per namespace (the part of a channel name before the first ':')."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..protocol.errors import AblyError


@dataclass(frozen=True, slots=True)
class ChannelRule:
    # Permissive by default, so @ably/ai-transport works out of the box.
    mutable_messages: bool = True


class ChannelRules:
    """`{"namespace": {"mutableMessages": false}}`; channels outside every namespace get the default."""

    def __init__(self, rules: dict[str, ChannelRule] | None = None) -> None:
        self._rules = rules or {}

    @classmethod
    def parse(cls, text: str | None) -> ChannelRules:
        if not text:
            return cls()
        try:
            raw: Any = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"channel rules are not JSON: {exc}") from exc
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            raise ValueError('channel rules must look like {"namespace": {"mutableMessages": false}}')
        return cls({ns: ChannelRule(mutable_messages=bool(rule.get("mutableMessages", True)))
                    for ns, rule in raw.items()})

    def with_namespaces(self, rules: dict[str, ChannelRule]) -> ChannelRules:
        """These rules with `rules` added, replacing any of the same namespace (a provisioned app's)."""
        return ChannelRules({**self._rules, **rules})

    def for_channel(self, channel: str) -> ChannelRule:
        namespace, colon, _ = channel.partition(":")
        return self._rules.get(namespace, ChannelRule()) if colon else ChannelRule()

    def check_mutable(self, channel: str) -> None:
        if not self.for_channel(channel).mutable_messages:
            raise AblyError(93002, 400, f"Updates, deletes and appends are not enabled on channel {channel}")
