"""The conformance runner's pure parts: known-failure lists, the pass/fail verdict, the report.

Kept apart from the process handling in run.py so the default test suite checks them without an
SDK checkout (tests/conformance/test_results.py).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATES = ("passed", "failed", "pending", "notrun")
# what a known failure may be: a feature Tether does not have, a test that needs the internet,
# or a broker defect we track (the only kind that should shrink)
REASON_KINDS = ("out of scope:", "environment:", "defect:")


@dataclass(frozen=True)
class KnownFailure:
    """One expected failure: a test (file + mocha full title) and why it fails."""

    file: str
    test: str
    reason: str


@dataclass
class FileResult:
    """What one test file did: every test with its state, and how the run ended."""

    file: str
    tests: list[dict[str, Any]]
    capped: bool = False
    passes: int = 1
    wall_s: float = 0.0
    hook_failures: list[dict[str, Any]] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(t["state"] == state for t in self.tests)

    def stats(self) -> dict[str, int]:
        return {"total": len(self.tests), **{s: self.count(s) for s in STATES}}


@dataclass
class Verdict:
    """Failures nobody listed, and listed failures that no longer fail: either fails the run."""

    unexpected: list[dict[str, Any]]
    stale: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return not self.unexpected and not self.stale


def load_known_failures(path: Path) -> list[KnownFailure]:
    """Read a known-failures TOML file (`[[failure]]` tables with file, test, reason).

    A reason must say which kind it is (REASON_KINDS) and a test may be listed once, so the list
    stays a triage record rather than a mute button.
    """
    doc = tomllib.loads(path.read_text())
    out: list[KnownFailure] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(doc.get("failure", [])):
        try:
            kf = KnownFailure(file=entry["file"], test=entry["test"], reason=entry["reason"].strip())
        except KeyError as exc:
            raise ValueError(f"{path}: failure #{i + 1} has no {exc.args[0]!r}") from None
        if not kf.reason.lower().startswith(REASON_KINDS):
            raise ValueError(f"{path}: {kf.test!r}: reason must start with one of {REASON_KINDS}")
        if (kf.file, kf.test) in seen:
            raise ValueError(f"{path}: {kf.test!r} ({kf.file}) is listed twice")
        seen.add((kf.file, kf.test))
        out.append(kf)
    return out


def judge(results: list[FileResult], known: list[KnownFailure]) -> Verdict:
    """Compare the run with the list. Only files that ran are judged, so a partial run does not
    call the other files' entries stale. A test that never ran (hang, failed hook) is a failure."""
    listed = {(k.file, k.test): k for k in known}
    unexpected: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    for res in results:
        titles = set()
        for t in res.tests:
            titles.add(t["fullTitle"])
            entry = listed.get((res.file, t["fullTitle"]))
            if t["state"] in ("failed", "notrun") and entry is None:
                unexpected.append({"file": res.file, "test": t["fullTitle"], "state": t["state"],
                                   "error": t.get("error", "")})
            elif t["state"] == "passed" and entry is not None:
                stale.append({"file": res.file, "test": t["fullTitle"], "why": "passes now",
                              "reason": entry.reason})
        for k in known:
            if k.file == res.file and k.test not in titles:
                stale.append({"file": res.file, "test": k.test, "why": "no such test in the file",
                              "reason": k.reason})
    return Verdict(unexpected=unexpected, stale=stale)


def summarise(results: list[FileResult]) -> dict[str, Any]:
    """Per-file rows and the totals over them."""
    rows = [{"file": r.file, **r.stats(), "capped": r.capped, "passes": r.passes, "wall_s": round(r.wall_s, 1)}
            for r in results]
    totals = {k: sum(row[k] for row in rows) for k in ("total", *STATES)}
    return {"rows": rows, "totals": totals}


def report_json(meta: dict[str, Any], results: list[FileResult], verdict: Verdict,
                known: list[KnownFailure]) -> dict[str, Any]:
    """Everything the run found, machine-readable: the summary, every failure, the verdict."""
    reasons = {(k.file, k.test): k.reason for k in known}
    failures = [{"file": r.file, "test": t["fullTitle"], "state": t["state"], "error": t.get("error", ""),
                 "known": reasons.get((r.file, t["fullTitle"]))}
                for r in results for t in r.tests if t["state"] in ("failed", "notrun")]
    hooks = [{"file": r.file, **h} for r in results for h in r.hook_failures]
    return {"meta": meta, **summarise(results), "failures": failures, "hookFailures": hooks,
            "unexpected": verdict.unexpected, "stale": verdict.stale, "ok": verdict.ok}


def _cell(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return flat.replace("|", "\\|")


def report_markdown(doc: dict[str, Any]) -> str:
    """The JSON report as a page a person reads: the table, the verdict, then every failure."""
    meta, totals = doc["meta"], doc["totals"]
    lines = [f"# Conformance: {meta.get('sdk', '?')}", ""]
    lines += [f"- {k}: `{v}`" for k, v in meta.items()]
    lines += ["", "| file | total | passed | failed | pending | not run | capped |", "|---|---|---|---|---|---|---|"]
    for row in doc["rows"]:
        lines.append(f"| {row['file']} | {row['total']} | {row['passed']} | {row['failed']} | {row['pending']} "
                     f"| {row['notrun']} | {'yes' if row['capped'] else ''} |")
    lines.append(f"| **all** | {totals['total']} | {totals['passed']} | {totals['failed']} | {totals['pending']} "
                 f"| {totals['notrun']} | |")
    lines += ["", f"Verdict: {'OK' if doc['ok'] else 'FAIL'} — {len(doc['unexpected'])} unlisted failure(s), "
              f"{len(doc['stale'])} stale known-failure entr{'y' if len(doc['stale']) == 1 else 'ies'}.", ""]
    if doc["stale"]:
        lines += ["## Stale entries (remove them from the known-failures list)", ""]
        lines += [f"- {s['file']} — {s['test']} ({s['why']})" for s in doc["stale"]]
        lines.append("")
    if doc["unexpected"]:
        lines += ["## Unlisted failures", ""]
        lines += [f"- {u['file']} — {u['test']} [{u['state']}]: {_cell(u['error'])}" for u in doc["unexpected"]]
        lines.append("")
    lines += ["## Every failure", "", "| file | test | state | error | known reason |", "|---|---|---|---|---|"]
    for f in doc["failures"]:
        lines.append(f"| {f['file']} | {_cell(f['test'], 200)} | {f['state']} | {_cell(f['error'])} "
                     f"| {_cell(f['known'] or '—', 200)} |")
    if doc["hookFailures"]:
        lines += ["", "## Hook failures", ""]
        lines += [f"- {h['file']} — {h['title']}: {_cell(h['error'])}" for h in doc["hookFailures"]]
    return "\n".join(lines) + "\n"
