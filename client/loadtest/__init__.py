"""tether-load: a Locust-based load generator for Ably-protocol systems (Tether or any endpoint).

See docs/load.md. Entry point: `tether-load` (cli.py).
"""
