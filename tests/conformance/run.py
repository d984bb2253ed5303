"""Run an official SDK's own test suite against Tether, file by file (issue 15; docs/conformance.md).

    python -m tests.conformance.run --sdk ably-js --checkout $ABLY_JS_DIR [FILE ...]

For each test file: a fresh broker with `--sandbox` on a free loopback port, the suite pointed at
it through its harness's own switch (ABLY_LOCAL_SANDBOX_URL: the suite provisions its app with
POST /apps and routes its clients to the endpoint/port/tls the answer gives), mocha with our
reporter, killed at the per-file cap. A capped file gets further passes, each on a fresh broker,
that run only the tests it did not reach. Then the report (report.json, report.md) and the
verdict against the known-failures list: exit 1 when a test off the list fails or one on it passes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conformance import results
from tests.conformance.suites import SETS
from tests.support.broker import BrokerProcess

HERE = Path(__file__).resolve().parent
REPORTER = HERE / "mocha_json_reporter.js"
ROOT = HERE.parents[1]


def sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def build_ably_js(checkout: Path, reinstall: bool) -> None:
    """What `npm run test:node` builds before mocha: devDependencies, then the node bundle and
    the push/liveobjects plugins the test helpers load. Install scripts are skipped: ably-js's
    `prepare` is the full browser build, and playwright would download browsers."""
    if not (checkout / "test/common/ably-common/test-resources/test-app-setup.json").exists():
        raise SystemExit(f"{checkout}: test/common/ably-common is empty; run `git submodule update --init`")
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    if reinstall or not (checkout / "node_modules/.package-lock.json").exists():
        sh(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], checkout, env)
    for target in ("build:node", "build:push", "build:liveobjects"):
        sh(["npm", "run", "--silent", target], checkout, env)


def kill_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """mocha and whatever it spawned; SIGKILL when SIGTERM is not enough."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def cpu_lock(path: str | None) -> Iterator[None]:
    """Optional flock(2) around a file's run, so it never overlaps other heavy jobs on the host."""
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_mocha_pass(checkout: Path, file: str, workdir: Path, opts: argparse.Namespace,
                   grep: str | None) -> tuple[dict[str, Any], bool]:
    """One mocha process over `file` against a fresh broker; returns the reporter's document and
    whether the cap killed it."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "results.json"
    out.unlink(missing_ok=True)
    broker = BrokerProcess(db=workdir / "tether.db", engine=opts.engine, extra_args=["--sandbox"])
    with cpu_lock(opts.cpu_lock):
        broker.start()
        try:
            env = dict(os.environ, ABLY_LOCAL_SANDBOX_URL=broker.http_url, CONFORMANCE_RESULTS=str(out),
                       # the few tests that build clients from the globals rather than the app
                       ABLY_ENDPOINT=broker.host, ABLY_PORT=str(broker.port), ABLY_TLS_PORT=str(broker.port),
                       ABLY_USE_TLS="false",
                       # Tether serves WebSocket only; comet transports are out of scope
                       ABLY_TEST_TRANSPORTS="web_socket")
            cmd = ["node", "node_modules/mocha/bin/mocha", "--exit", "--reporter", str(REPORTER)]
            if grep:
                cmd += ["--grep", grep]
            cmd.append(file)
            with open(workdir / "mocha.log", "ab") as log:
                proc = subprocess.Popen(cmd, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                try:
                    proc.wait(opts.cap)
                    capped = False
                except subprocess.TimeoutExpired:
                    capped = True
                    kill_group(proc)
        finally:
            broker.stop()
    try:
        doc = json.loads(out.read_text())
    except (OSError, ValueError):
        doc = {"tests": [], "hookFailures": [], "current": None, "finished": False}
    if capped and doc.get("current"):
        for t in doc["tests"]:
            if t["fullTitle"] == doc["current"] and t["state"] == "notrun":
                t.update(state="failed", error=f"killed: still running at the per-file cap ({opts.cap:.0f} s)")
    return doc, capped


def area_of(file: str) -> str:
    return file.removeprefix("test/").removesuffix(".test.js").replace("/", "-")


def run_file(checkout: Path, file: str, outdir: Path, opts: argparse.Namespace) -> results.FileResult:
    """A file's passes: the first runs everything; while the cap cuts a pass short, the next runs
    only the tests not reached yet (mocha --grep on their exact full titles)."""
    area = area_of(file)
    t0 = time.monotonic()
    doc, capped = run_mocha_pass(checkout, file, outdir / area, opts, opts.grep)
    tests = {t["fullTitle"]: t for t in doc["tests"]}
    hooks = list(doc.get("hookFailures", []))
    any_capped, passes = capped, 1
    while capped and passes < opts.passes:
        todo = [title for title, t in tests.items() if t["state"] == "notrun"]
        if not todo:
            break
        passes += 1
        print(f"[{area}] pass {passes}: {len(todo)} test(s) not reached", flush=True)
        grep = "^(?:" + "|".join(re.escape(title) for title in todo) + ")$"
        part, capped = run_mocha_pass(checkout, file, outdir / f"{area}.pass{passes}", opts, grep)
        for t in part["tests"]:
            if t["state"] != "notrun" and t["fullTitle"] in tests:
                tests[t["fullTitle"]] = t
        hooks += part.get("hookFailures", [])
    res = results.FileResult(file=file, tests=list(tests.values()), capped=any_capped, passes=passes,
                             wall_s=time.monotonic() - t0, hook_failures=hooks)
    (outdir / f"{area}.json").write_text(json.dumps(dataclasses.asdict(res), indent=1))
    s = res.stats()
    print(f"[{area}] {s['passed']}/{s['total']} passed, {s['failed']} failed, {s['pending']} pending, "
          f"{s['notrun']} not run{' (capped)' if any_capped else ''}, {res.wall_s:.0f} s", flush=True)
    return res


def load_file_result(outdir: Path, file: str) -> results.FileResult:
    """A file's merged result as an earlier run saved it (for --rejudge)."""
    return results.FileResult(**json.loads((outdir / f"{area_of(file)}.json").read_text()))


def git_commit(path: Path) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + (" (local changes)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", help="test files relative to the checkout (default: --set)")
    p.add_argument("--sdk", default="ably-js", choices=["ably-js"])
    p.add_argument("--checkout", default=os.environ.get("ABLY_JS_DIR"), help="SDK checkout (ABLY_JS_DIR)")
    p.add_argument("--set", default="core", choices=sorted(SETS), help="which files when none are given")
    p.add_argument("--cap", type=float, default=600.0, help="seconds per mocha process before it is killed")
    p.add_argument("--passes", type=int, default=2, help="mocha processes per file at most (capped files)")
    p.add_argument("--grep", default=None, help="only the tests whose full title matches (mocha --grep)")
    p.add_argument("--engine", default="memory", choices=["memory", "sqlite"])
    p.add_argument("--out", type=Path, default=ROOT / "build/conformance")
    p.add_argument("--known", type=Path, default=None, help="known-failures TOML (default: the SDK's)")
    p.add_argument("--no-build", action="store_true", help="use the checkout's build as it is")
    p.add_argument("--reinstall", action="store_true", help="npm ci even when node_modules exists")
    p.add_argument("--rejudge", action="store_true",
                   help="run nothing: judge the results an earlier run left in --out against the list again")
    p.add_argument("--cpu-lock", default=os.environ.get("CONFORMANCE_CPU_LOCK"),
                   help="flock this file around each file's run")
    opts = p.parse_args(argv)
    if not opts.checkout:
        p.error("give --checkout or set ABLY_JS_DIR to a checkout of ably/ably-js")
    checkout = Path(opts.checkout).resolve()
    known_path = opts.known or HERE / "known_failures" / f"{opts.sdk}.toml"
    known = results.load_known_failures(known_path)
    if not opts.no_build and not opts.rejudge:
        build_ably_js(checkout, opts.reinstall)
    files = opts.files or SETS[opts.set]
    outdir = opts.out / opts.sdk
    outdir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if opts.rejudge:
        runs = [load_file_result(outdir, f) for f in files if (outdir / f"{area_of(f)}.json").exists()]
    else:
        runs = [run_file(checkout, f, outdir, opts) for f in files]
    if opts.grep:  # a subset of a file: the tests it skipped are neither failures nor stale entries
        for r in runs:
            r.tests = [t for t in r.tests if t["state"] != "notrun" or re.search(opts.grep, t["fullTitle"])]
    meta = {"sdk": opts.sdk, "sdk_commit": git_commit(checkout), "tether_commit": git_commit(ROOT),
            "started": started, "cap_s": opts.cap, "engine": opts.engine, "known_failures": str(known_path)}
    verdict = results.judge(runs, known)
    doc = results.report_json(meta, runs, verdict, known)
    (outdir / "report.json").write_text(json.dumps(doc, indent=1))
    (outdir / "report.md").write_text(results.report_markdown(doc))
    t = doc["totals"]
    print(f"{t['passed']}/{t['total']} passed, {t['failed']} failed, {t['pending']} pending, {t['notrun']} not run; "
          f"{len(verdict.unexpected)} unlisted failure(s), {len(verdict.stale)} stale entr(y/ies); "
          f"report: {outdir / 'report.md'}", flush=True)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
