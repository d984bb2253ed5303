"""The agent side of a session: runs, steps, streaming output, cancel routing."""
