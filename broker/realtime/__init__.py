"""Realtime connections: state, attachments, ACK/NACK ordering, resume."""
