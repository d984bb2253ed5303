"""Build the demo page (examples/web) when its build is missing or older than its sources.

Shared by `examples/demo.py` and the browser tests, so both serve the page the sources describe.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parent / "web"
DIST = WEB / "dist"


def stale(target: Path, sources: list[Path]) -> bool:
    if not target.exists():
        return True
    built = target.stat().st_mtime
    return any(source.stat().st_mtime > built for source in sources)


def npm_ci(directory: Path) -> None:
    """Install exactly the lockfile's packages (no audit, no funding notes)."""
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=directory, check=True,
                   timeout=600)


def build_page() -> Path:
    """The built page's directory; installs the npm packages and runs `vite build` only when needed."""
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to build the demo page (examples/web): install Node.js 20.19 or newer")
    if stale(WEB / "node_modules" / ".package-lock.json", [WEB / "package-lock.json"]):
        npm_ci(WEB)
    sources = [*WEB.glob("src/*"), WEB / "index.html", WEB / "vite.config.js", WEB / "package-lock.json"]
    if stale(DIST / "index.html", sources):
        subprocess.run(["npx", "vite", "build", "--logLevel", "warn"], cwd=WEB, check=True, timeout=300)
    return DIST
