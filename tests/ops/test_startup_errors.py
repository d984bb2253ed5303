"""Startup mistakes: one clear line on stderr and a non-zero exit, never a traceback (as subprocesses)."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.cli import clean_env, one_line_error, run_broker
from tests.support.broker import BrokerProcess, free_port

KEY = "app.one:secretsecret"


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run_broker("--port", str(port), "--key", KEY, "--db", str(tmp_path / "b.db")), 1)
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in line
    assert "choose --port" in line


def test_database_in_use_by_another_broker(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    first = BrokerProcess(db=db).start()
    try:
        line = one_line_error(run_broker("--port", str(free_port()), "--key", KEY, "--db", str(db)), 1)
    finally:
        first.stop()
    assert f"the database {db} is in use by another broker" in line
    assert "stop that broker, or give this one its own --db" in line


@pytest.fixture
def read_only_dir() -> Iterator[Path]:
    """A directory the broker cannot write; world-traversable so an unprivileged child can reach it."""
    path = Path(tempfile.mkdtemp(prefix="tether-ro-"))
    path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    yield path
    path.chmod(0o700)
    shutil.rmtree(path)


@pytest.mark.parametrize(("where", "keys", "named"), [
    ("broker.db", ["--key", KEY], "broker.db"),  # the database itself
    ("sub/broker.db", ["--key", KEY], "sub"),  # its directory, to be made
    ("broker.db", [], "dev-key.txt"),  # the development key beside it
])
def test_read_only_directory(read_only_dir: Path, where: str, keys: list[str], named: str) -> None:
    """As root the child drops to `nobody` (setpriv), or the permission bits would not apply to it."""
    drop: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv (util-linux) is missing: permission bits would not apply")
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    db = read_only_dir / where
    line = one_line_error(run_broker("--port", str(free_port()), "--db", str(db), *keys, prefix=drop), 1)
    assert f"cannot write {read_only_dir / named}: Permission denied" in line
    assert "choose another --db" in line


@pytest.mark.parametrize(("key", "says"), [
    ("not-a-key", "argument --key: Invalid key: expected appId.keyId:secret"),
    ("app.one:has space", "keys may not contain whitespace"),
    ('app.one:secret={"chat:*":["publish",}', "argument --key: Invalid capability: not valid JSON"),
    ('app.one:secret={"chat:*":[]}', "operations for 'chat:*' must be a non-empty array"),
])
def test_bad_key_flag(key: str, says: str) -> None:
    assert says in one_line_error(run_broker("--key", key, "--engine", "memory"), 2)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("BROKER_PORT", "abc", "BROKER_PORT='abc': not a valid whole number"),
    ("BROKER_ENGINE", "redis", "BROKER_ENGINE='redis': choose one of sqlite, memory"),
    ("BROKER_CONNECTION_STATE_TTL", "2m", "BROKER_CONNECTION_STATE_TTL='2m': not a valid number"),
    ("BROKER_KEY", 'app.one:s={"chat:*":["publish",}', "BROKER_KEY: Capability of key app.one is not valid JSON"),
    ("BROKER_KEY", "nonsense", "BROKER_KEY='nonsense': Invalid key: expected appId.keyId:secret"),
    ("BROKER_CHANNEL_RULES", "[1", "BROKER_CHANNEL_RULES='[1': channel rules are not JSON"),
    ("BROKER_APPEND_ROLLUP_WINDOW", "33", "BROKER_APPEND_ROLLUP_WINDOW='33'"),
])
def test_bad_environment_value(name: str, value: str, says: str) -> None:
    env = clean_env(**({"BROKER_ENGINE": "memory"} | {name: value}))
    assert says in one_line_error(run_broker(env=env), 1)


def test_bad_keys_file_names_the_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# ours\n{KEY}\napp.two:secret {{\"chat\": [\"publish\"\n")
    line = one_line_error(run_broker("--keys-file", str(keys), "--engine", "memory"), 1)
    assert f"{keys}:3: Invalid capability: not valid JSON" in line


def test_missing_keys_file(tmp_path: Path) -> None:
    line = one_line_error(run_broker("--keys-file", str(tmp_path / "none.txt"), "--engine", "memory"), 1)
    assert f"cannot read the keys file {tmp_path / 'none.txt'}: No such file or directory" in line


def test_token_subcommand_bad_input_is_one_line() -> None:
    line = one_line_error(run_broker("token", "--key", KEY, "--capability", "{nope"), 2)
    assert "Invalid capability: not valid JSON" in line
    line = one_line_error(run_broker("token", "--key", KEY, "--ttl", "10"), 2)
    assert "Invalid ttl '10'" in line
