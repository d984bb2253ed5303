"""The command line: dev key generation, BROKER_* variables, the token subcommand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.broker import ROOT, BrokerProcess, free_port, wait_healthy


def test_dev_key_is_generated_once_and_printed(tmp_path: Path) -> None:
    db = tmp_path / "d" / "broker.db"
    first = BrokerProcess(db=db, keys=[]).start()
    first.stop()
    key = (db.parent / "dev-key.txt").read_text().strip()
    assert key.startswith("tether.dev:") and key in first.log()
    assert "new Ably.Realtime" in first.log()
    second = BrokerProcess(db=db, keys=[]).start()
    try:
        assert (db.parent / "dev-key.txt").read_text().strip() == key
        resp = httpx.get(f"{second.http_url}/channels/x/messages", auth=tuple(key.split(":", 1)))  # type: ignore[arg-type]
        assert resp.status_code == 200
    finally:
        second.stop()


def test_options_from_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "BROKER_PORT": str(port), "BROKER_ENGINE": "memory", "BROKER_KEY": "a.b:secretsecret",
           "BROKER_DB": str(tmp_path / "x.db")}
    proc = subprocess.Popen([sys.executable, "-m", "broker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        resp = httpx.get(f"http://127.0.0.1:{port}/channels/x/messages", auth=("a.b", "secretsecret"))
        assert resp.status_code == 200
        assert not (tmp_path / "dev-key.txt").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_token_subcommand_prints_a_jwt_the_broker_accepts(broker: BrokerProcess) -> None:
    out = subprocess.run([sys.executable, "-m", "broker", "token", "--key", broker.key, "--client-id", "alice",
                          "--capability", '{"chat:*":["*"]}', "--ttl", "1h"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    token = out.stdout.strip()
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["kid"] == broker.key.split(":")[0] and header["alg"] == "HS256"
    assert claims["x-ably-clientId"] == "alice" and 3600 <= claims["exp"] - claims["iat"] < 3601
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{broker.http_url}/channels/chat:1/messages", headers=bearer).status_code == 200
    denied = httpx.get(f"{broker.http_url}/channels/other/messages", headers=bearer)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == 40160


def test_append_rollup_window_flag_and_variable(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from broker.cli import parse_args

    assert parse_args([]).append_rollup_window == 0
    assert parse_args(["--append-rollup-window", "40"]).append_rollup_window == 40
    monkeypatch.setenv("BROKER_APPEND_ROLLUP_WINDOW", "100")
    assert parse_args([]).append_rollup_window == 100
    with pytest.raises(SystemExit):
        parse_args(["--append-rollup-window", "33"])
    assert "use one of 0, 20, 40, 100, 500" in capsys.readouterr().err


def test_timeouts_and_caps_from_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.cli import parse_args

    monkeypatch.setenv("BROKER_REQUEST_HEAD_TIMEOUT", "2.5")
    monkeypatch.setenv("BROKER_MAX_PENDING_CONNECTIONS", "7")
    args = parse_args(["--frame-timeout", "4", "--response-stall-timeout", "9", "--max-unread-responses", "1000"])
    assert (args.request_head_timeout, args.max_pending_connections) == (2.5, 7)
    assert (args.frame_timeout, args.response_stall_timeout, args.max_unread_responses) == (4.0, 9.0, 1000)
    assert parse_args([]).request_body_timeout == 60.0
