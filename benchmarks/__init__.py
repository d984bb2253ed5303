"""Benchmarks for Tether: load generators and scenarios, run with `python -m benchmarks.<name>`."""
