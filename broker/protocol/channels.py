"""Channel names: validation and the `[qualifier?params]name` prefix."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from .errors import invalid_channel

MAX_CHANNEL_NAME = 2048


@dataclass(frozen=True, slots=True)
class ChannelName:
    """`wire` is the exact string the client used; `base` is the stream it names."""

    wire: str
    base: str
    qualifier: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_channel_name(name: object) -> ChannelName:
    if not isinstance(name, str) or not name:
        raise invalid_channel("Channel name must be a non-empty string")
    if len(name) > MAX_CHANNEL_NAME:
        raise invalid_channel(f"Channel name longer than {MAX_CHANNEL_NAME} characters")
    qualifier = ""
    params: dict[str, str] = {}
    base = name
    if name.startswith("["):
        end = name.find("]")
        if end < 0:
            raise invalid_channel(f"Channel name {name!r} has an unterminated qualifier")
        qualifier, _, query = name[1:end].partition("?")
        if qualifier not in ("", "meta"):
            raise invalid_channel(f"Unsupported channel qualifier [{qualifier}]")
        params = dict(parse_qsl(query, keep_blank_values=True))
        base = name[end + 1 :]
        if qualifier:
            base = f"[{qualifier}]{base}"
        if not name[end + 1 :]:
            raise invalid_channel("Channel name is empty after its qualifier")
    bare = name[name.find("]") + 1 :] if name.startswith("[") else name
    if bare[0] in ":," or bare[0].isspace():
        raise invalid_channel(f"Channel name {name!r} may not start with {bare[0]!r}")
    if "\n" in name or "\r" in name or "\0" in name:
        raise invalid_channel("Channel name may not contain line breaks or NUL")
    if bare.startswith("["):
        raise invalid_channel(f"Channel name {name!r} has a misplaced '['")
    return ChannelName(wire=name, base=base, qualifier=qualifier, params=params)
