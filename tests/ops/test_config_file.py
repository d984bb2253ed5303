"""Where an option comes from: flag > BROKER_* variable > --config TOML file > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.cli import parse_args
from broker.config import StartupError


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "tether.toml"
    config.write_text('port = 9001\nhost = "0.0.0.0"\nengine = "memory"\nkey = ["a.b:filesecret"]\n')
    for name in ("BROKER_PORT", "BROKER_HOST", "BROKER_ENGINE", "BROKER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BROKER_HOST", "127.0.0.2")
    monkeypatch.setenv("BROKER_PORT", "9002")
    args = parse_args(["--config", str(config), "--port", "9003"])
    assert args.port == 9003  # flag over variable and file
    assert args.host == "127.0.0.2"  # variable over file
    assert args.engine == "memory" and args.keys == ["a.b:filesecret"]  # file over default
    assert args.dedup_window == 120.0  # default


def test_unknown_option_in_file(tmp_path: Path) -> None:
    config = tmp_path / "tether.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(StartupError, match="unknown options: prot"):
        parse_args(["--config", str(config)])


def test_help_shows_variables_and_defaults_and_version() -> None:
    import subprocess
    import sys

    from tests.support.broker import ROOT

    out = subprocess.run([sys.executable, "-m", "broker", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=30, check=True).stdout
    flat = " ".join(out.split())
    assert "[env BROKER_PORT; default: 8080]" in flat and "[env BROKER_TLS_CERT; default: none]" in flat
    tether = Path(sys.executable).with_name("tether")
    version = subprocess.run([str(tether), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert version.stdout.strip() == "tether 0.1.0"
