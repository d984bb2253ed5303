"""The conformance runner's pure parts: the known-failures file, the verdict, the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import results
from tests.conformance.results import FileResult, KnownFailure

FILE = "test/rest/auth.test.js"


def t(title: str, state: str, error: str = "") -> dict[str, str]:
    return {"fullTitle": title, "state": state, **({"error": error} if error else {})}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "known.toml"
    path.write_text(text)
    return path


def test_known_failures_file_parses_entries(tmp_path: Path) -> None:
    path = write(tmp_path, f'''
[[failure]]
file = "{FILE}"
test = "rest/auth a"
reason = "environment: needs echo.ably.io"

[[failure]]
file = "{FILE}"
test = "rest/auth b"
reason = "defect: no JWT support"
''')
    assert results.load_known_failures(path) == [
        KnownFailure(FILE, "rest/auth a", "environment: needs echo.ably.io"),
        KnownFailure(FILE, "rest/auth b", "defect: no JWT support"),
    ]


def test_the_shipped_ably_js_list_is_valid() -> None:
    path = Path(results.__file__).parent / "known_failures" / "ably-js.toml"
    entries = results.load_known_failures(path)
    assert all(e.file.startswith("test/") and e.file.endswith(".test.js") for e in entries)


@pytest.mark.parametrize("body, message", [
    (f'[[failure]]\nfile = "{FILE}"\ntest = "x"\nreason = "flaky"\n', "reason must start"),
    (f'[[failure]]\nfile = "{FILE}"\nreason = "defect: y"\n', "has no 'test'"),
    (f'[[failure]]\nfile = "{FILE}"\ntest = "x"\nreason = "defect: y"\n' * 2, "listed twice"),
])
def test_known_failures_file_refuses_bad_entries(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        results.load_known_failures(write(tmp_path, body))


def test_verdict_flags_unlisted_failures_and_tests_that_never_ran() -> None:
    run = [FileResult(FILE, [t("a", "passed"), t("b", "failed", "boom"), t("c", "notrun"), t("d", "pending")])]
    verdict = results.judge(run, [KnownFailure(FILE, "b", "defect: known")])
    assert not verdict.ok
    assert [(u["test"], u["state"]) for u in verdict.unexpected] == [("c", "notrun")]
    assert verdict.stale == []


def test_verdict_flags_listed_tests_that_pass_or_no_longer_exist() -> None:
    run = [FileResult(FILE, [t("a", "passed"), t("b", "failed")])]
    known = [KnownFailure(FILE, "a", "defect: was broken"), KnownFailure(FILE, "b", "defect: still broken"),
             KnownFailure(FILE, "gone", "defect: renamed upstream")]
    verdict = results.judge(run, known)
    assert [(s["test"], s["why"]) for s in verdict.stale] == [("a", "passes now"), ("gone", "no such test in the file")]
    assert verdict.unexpected == []


def test_verdict_ignores_entries_of_files_that_did_not_run() -> None:
    run = [FileResult(FILE, [t("a", "passed")])]
    verdict = results.judge(run, [KnownFailure("test/rest/other.test.js", "z", "defect: elsewhere")])
    assert verdict.ok


def test_same_title_in_another_file_is_not_covered() -> None:
    run = [FileResult(FILE, [t("a", "failed")])]
    verdict = results.judge(run, [KnownFailure("test/rest/other.test.js", "a", "defect: elsewhere")])
    assert [u["test"] for u in verdict.unexpected] == ["a"]


def test_summary_counts_per_file_and_in_total() -> None:
    run = [FileResult("f1", [t("a", "passed"), t("b", "failed")], capped=True, passes=2),
           FileResult("f2", [t("c", "pending"), t("d", "notrun"), t("e", "passed")])]
    summary = results.summarise(run)
    assert summary["rows"][0] == {"file": "f1", "total": 2, "passed": 1, "failed": 1, "pending": 0, "notrun": 0,
                                  "capped": True, "passes": 2, "wall_s": 0.0}
    assert summary["totals"] == {"total": 5, "passed": 2, "failed": 1, "pending": 1, "notrun": 1}


def test_report_lists_every_failure_with_its_message_and_reason() -> None:
    run = [FileResult(FILE, [t("a", "failed", "expected 40160 | got 40101"), t("b", "failed", "timeout"),
                             t("c", "passed")])]
    known = [KnownFailure(FILE, "a", "defect: capability check")]
    doc = results.report_json({"sdk": "ably-js"}, run, results.judge(run, known), known)
    assert [(f["test"], f["known"]) for f in doc["failures"]] == [("a", "defect: capability check"), ("b", None)]
    assert doc["ok"] is False
    page = results.report_markdown(doc)
    assert "expected 40160 \\| got 40101" in page  # a pipe in a message does not break the table
    assert f"| {FILE} | 3 | 1 | 2 | 0 | 0 |  |" in page
    assert "Verdict: FAIL — 1 unlisted failure(s), 0 stale known-failure entries." in page
