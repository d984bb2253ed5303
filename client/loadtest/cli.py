"""`tether-load`: Locust with the Ably-protocol load file, users counted from the scenario.

Everything Locust accepts passes through (`--web`, `--master`, `--worker`, `--processes`,
`--csv`, `--html`, ...). Headless is the default; the run is bounded by `--duration` and a
backstop `--run-time`, so it stops by itself.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import options

_LOCUSTFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locustfile.py")


def locust_argv(argv: list[str]) -> list[str]:
    """The Locust command line for a tether-load command line."""
    parser = argparse.ArgumentParser(add_help=False)
    options.add_arguments(parser)
    known, _rest = parser.parse_known_args(argv)
    args = ["locust", "-f", _LOCUSTFILE]
    worker = "--worker" in argv
    web = "--web" in argv
    rest = [a for a in argv if a != "--web"]
    if not worker:
        if not any(a in ("-u", "--users") or a.startswith("--users=") for a in argv):
            total = options.total_devices(known)
            args += ["-u", str(total)]
            if not any(a in ("-r", "--spawn-rate") or a.startswith("--spawn-rate=") for a in argv):
                args += ["-r", str(max(1, min(total, 500)))]
        if not web and "--headless" not in argv:
            args.append("--headless")
        if not web and not any(a in ("-t", "--run-time") or a.startswith("--run-time=") for a in argv):
            backstop = known.ready_timeout + known.duration + known.drain + 30
            args += ["--run-time", f"{int(backstop)}s", "--only-summary"]
        args += ["--stop-timeout", str(int(known.drain + 10))]
    return args + rest


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
    sys.argv = locust_argv(argv)
    from locust.main import main as locust_main  # imported late: it monkey-patches the process for gevent

    locust_main()
