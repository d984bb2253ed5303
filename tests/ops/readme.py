"""Code blocks of README.md, found by the `<!-- snippet: NAME -->` line above each."""

from __future__ import annotations

import re

from tests.support.broker import ROOT

README = ROOT / "README.md"


def snippet(name: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\n```\w*\n(.*?)```", text, re.S)
    assert match, f"README.md has no snippet {name!r} (a `<!-- snippet: {name} -->` line before a code block)"
    return match.group(1)


def with_port(code: str, documented: int, actual: int) -> str:
    """The one change a test makes: the README's port for the test broker's."""
    assert str(documented) in code, f"the snippet no longer uses port {documented}:\n{code}"
    return code.replace(str(documented), str(actual))
