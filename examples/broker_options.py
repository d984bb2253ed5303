"""Where the examples find the broker: by default the one `make run` starts (port 8080, its dev key)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEV_KEY = Path("data") / "dev-key.txt"  # written by the broker beside its database (`make run`)
ROOT = Path(__file__).resolve().parent.parent  # the checkout, where `make run` keeps data/


def dev_key() -> str | None:
    """The development key of the broker `make run` started in this directory, if there is one."""
    return DEV_KEY.read_text().strip() if DEV_KEY.exists() else None


def add_broker_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--broker-host", default="127.0.0.1")
    parser.add_argument("--broker-port", type=int, default=8080, help="default: the port of `make run`")
    parser.add_argument("--key", default=None, help=f"an API key (default: the dev key in {DEV_KEY})")
    return parser


def parse_with_key(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse, filling --key from the dev key; a missing key is one clear line, not a traceback."""
    args = parser.parse_args(argv)
    if args.key is None:
        args.key = dev_key()
        if args.key is None:
            parser.error(f"no --key given and no {DEV_KEY} found: start the broker with `make run` first")
    return args
