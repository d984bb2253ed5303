"""Where an option comes from: flag > BROKER_* variable > --config TOML file > default."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from broker.cli import parse_args
from broker.config import StartupError
from tests.ops.cli import clean_env
from tests.support.broker import ROOT, free_port, wait_healthy


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
    out = subprocess.run([sys.executable, "-m", "broker", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=30, check=True).stdout
    flat = " ".join(out.split())
    assert "[env BROKER_PORT; default: 8080]" in flat and "[env BROKER_TLS_CERT; default: none]" in flat
    tether = Path(sys.executable).with_name("tether")
    version = subprocess.run([str(tether), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert version.stdout.strip() == "tether 0.1.0"


def test_broker_key_carries_capability_json_and_the_keys_file_adds_keys(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text('# ops keys\nops.reader:readsecretreadsecret {"chat:*": ["subscribe", "history"]}\n\n'
                         "ops.admin:adminsecretadminsecret\n")
    monkeypatch.setenv("BROKER_KEY", 'app.pub:pubsecretpubsecret={"chat:*":["publish","subscribe"]},app.all:s3cr3ts3cr3t')
    args = parse_args(["--keys-file", str(keys_file)])
    assert args.keys == ['app.pub:pubsecretpubsecret={"chat:*":["publish","subscribe"]}', "app.all:s3cr3ts3cr3t",
                         'ops.reader:readsecretreadsecret={"chat:*": ["subscribe", "history"]}',
                         "ops.admin:adminsecretadminsecret"]


async def test_a_broker_started_from_a_toml_file_alone_serves_its_keys_with_their_capabilities(
        tmp_path: Path) -> None:
    """The file is the whole configuration: port, database and keys (one restricted), nothing on the line."""
    port = free_port()
    config = tmp_path / "tether.toml"
    config.write_text(f'port = {port}\ndb = "{tmp_path / "b.db"}"\nlog_level = "warning"\n'
                      'key = [\'app.pub:pubsecretpubsecret={"chat:*":["publish"]}\', "app.root:rootsecretroot"]\n')
    proc = subprocess.Popen([sys.executable, "-m", "broker", "--config", str(config)], cwd=ROOT, env=clean_env(),
                            stderr=subprocess.PIPE)
    try:
        await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{port}", proc)

        def auth(key: str) -> dict[str, str]:
            return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            ok = await http.post("/channels/chat:a/messages", json={"data": "x"},
                                 headers=auth("app.pub:pubsecretpubsecret"))
            assert ok.status_code == 201
            denied = await http.post("/channels/other/messages", json={"data": "x"},
                                     headers=auth("app.pub:pubsecretpubsecret"))
            assert denied.status_code == 401 and denied.json()["error"]["code"] == 40160
            history = await http.get("/channels/chat:a/messages", headers=auth("app.root:rootsecretroot"))
            assert [m["data"] for m in history.json()] == ["x"]
    finally:
        proc.terminate()
        proc.wait(15)
