"""docs/security.md names the tests behind each row: every one it names must exist."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.broker import ROOT

DOC = ROOT / "docs" / "security.md"
NODE_ID = re.compile(r"`(tests/[\w/]+\.py::\w+(?:\[[^\]`]+\])?)`")


def collected(files: set[str]) -> set[str]:
    """Node ids pytest collects from `files`, with and without their parameters."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *sorted(files)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    ids = {line.strip() for line in done.stdout.splitlines() if "::" in line}
    assert ids, f"nothing collected:\n{done.stdout}\n{done.stderr}"
    return ids | {node.partition("[")[0] for node in ids}


def test_every_test_named_in_the_security_table_exists() -> None:
    named = set(NODE_ID.findall(DOC.read_text()))
    assert len(named) > 50, "the table should name the tests behind its rows"
    missing = named - collected({node.partition("::")[0] for node in named})
    assert not missing, f"docs/security.md names tests that do not exist: {sorted(missing)}"
