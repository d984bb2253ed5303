"""Each broker option from the first place that sets it: flag > BROKER_* variable > config file > default.

The parser's own `add_argument` calls stay the single list of options: this module reads
their defaults, types and choices, so an option added there is settable from all three
places, and `--help` says its variable and default.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .config import StartupError

ENV_PREFIX = "BROKER_"
SKIPPED = {"help", "version", "config"}
Splitter = Callable[[str], list[str]]


class OneLineParser(argparse.ArgumentParser):
    """A usage mistake is one line on stderr (exit 2), not the whole usage text."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def option_name(action: argparse.Action) -> str:
    """`--max-message-size` -> `max_message_size`: the config-file key; upper-cased, the variable."""
    long = next(s for s in action.option_strings if s.startswith("--"))
    return long[2:].replace("-", "_")


def env_name(action: argparse.Action) -> str:
    return ENV_PREFIX + option_name(action).upper()


def settable(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.dest not in SKIPPED]


def document(parser: argparse.ArgumentParser, shown: Mapping[str, str] | None = None) -> None:
    """Append `[env BROKER_X; default: Y]` to each option's help; `shown` words defaults by dest."""
    for action in settable(parser):
        default = (shown or {}).get(action.dest, "none" if action.default in (None, []) else action.default)
        note = f"[env {env_name(action)}; default: {default}]".replace("%", "%%")
        action.help = f"{action.help} {note}" if action.help else note


def load_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise StartupError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise StartupError(f"the config file {path} is not valid TOML: {exc}") from exc
    return {key.replace("-", "_"): value for key, value in data.items()}


def resolve(parser: argparse.ArgumentParser, argv: list[str], env: Mapping[str, str],
            splitters: Mapping[str, Splitter]) -> argparse.Namespace:
    """Parse `argv`, then fill each option not given as a flag from `env`, the file, the default.

    `splitters` turn one variable into the items of a repeatable option, by option name.
    """
    actions = settable(parser)
    defaults = {a.dest: a.default for a in actions}
    for action in actions:
        action.default = argparse.SUPPRESS
    try:
        given = parser.parse_args(argv)
    finally:
        for action in actions:
            action.default = defaults[action.dest]
    config_path = getattr(given, "config", None) or env.get(ENV_PREFIX + "CONFIG")
    in_file = load_file(Path(config_path)) if config_path else {}
    known = {option_name(a) for a in actions}
    unknown = sorted(set(in_file) - known)
    if unknown:
        raise StartupError(f"the config file {config_path} has unknown options: {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(known))})")
    for action in actions:
        if action.dest in given:
            continue
        name = option_name(action)
        variable = env_name(action)
        if variable in env:
            value = _from_env(action, env[variable], splitters.get(name), variable)
        elif name in in_file:
            value = _from_file(action, in_file[name], f"{name} in {config_path}")
        else:
            value = defaults[action.dest]
        setattr(given, action.dest, value)
    return given


def _convert(action: argparse.Action, text: str, source: str) -> Any:
    kind: Callable[[str], Any] = action.type if callable(action.type) else str  # type: ignore[assignment]
    try:
        value = kind(text)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        detail = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else f"not a valid {_kind_name(kind)}"
        raise StartupError(f"{source}={text!r}: {detail}") from None
    if action.choices is not None and value not in action.choices:
        raise StartupError(f"{source}={text!r}: choose one of {', '.join(map(str, action.choices))}")
    return value


def _kind_name(kind: Callable[[str], Any]) -> str:
    return {int: "whole number", float: "number"}.get(kind, getattr(kind, "__name__", "value"))  # type: ignore[call-overload]


def _is_flag(action: argparse.Action) -> bool:
    return isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))


def _repeatable(action: argparse.Action) -> bool:
    return isinstance(action, argparse._AppendAction)


def _from_env(action: argparse.Action, text: str, split: Splitter | None, variable: str) -> Any:
    if _is_flag(action):
        return _boolean(text, variable)
    if _repeatable(action):
        try:
            items = split(text) if split is not None else [text]
        except ValueError as exc:
            raise StartupError(f"{variable}: {exc}") from None
        return [_convert(action, item, variable) for item in items]
    return _convert(action, text, variable)


def _from_file(action: argparse.Action, value: Any, source: str) -> Any:
    if _is_flag(action):
        if not isinstance(value, bool):
            raise StartupError(f"{source}: expected true or false, got {value!r}")
        return value
    if _repeatable(action):
        items = value if isinstance(value, list) else [value]
        return [_convert(action, _text(item), source) for item in items]
    return _convert(action, _text(value), source)


def _text(value: Any) -> str:
    """TOML values as the flag would spell them: tables and arrays as JSON (e.g. --channel-rules)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _boolean(text: str, variable: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise StartupError(f"{variable}={text!r}: use true or false")


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
