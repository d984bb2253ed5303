"""Tests of the Python client library against a real broker process."""
