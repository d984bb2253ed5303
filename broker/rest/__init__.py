"""REST handlers: plain functions of (request) -> response, no sockets."""
