"""Checks every annotation publish passes, realtime or REST: capability, rule, identity, size."""

from __future__ import annotations

from collections.abc import Sequence

from ..auth import WILDCARD, AuthContext, message_client_id
from ..protocol.annotation import IDENTIFIED_METHODS, Annotation, method_of
from ..protocol.errors import AblyError, too_large
from ..protocol.serial import MAX_INDEX
from .rules import ChannelRules


def prepare_annotations(annotations: Sequence[Annotation], channel: str, auth: AuthContext,
                        connection_client_id: str | None, rules: ChannelRules, max_size: int) -> None:
    """Authorise and stamp identity in place; raises AblyError for the NACK or HTTP error."""
    if not auth.capability.allows(channel, "annotation-publish"):
        raise AblyError(40160, 401, f"Capability does not permit annotation-publish on channel {channel}")
    rules.check_mutable(channel)  # Ably's "Message annotations, updates, deletes, and appends" rule
    if not annotations:
        raise AblyError(40000, 400, "No annotations to publish")
    if len(annotations) > MAX_INDEX + 1:
        raise AblyError(40034, 400, f"Too many annotations in one publish (max {MAX_INDEX + 1})")
    total = 0
    for annotation in annotations:
        annotation.client_id = message_client_id(auth, connection_client_id, annotation.client_id)
        if method_of(annotation.type) in IDENTIFIED_METHODS and annotation.client_id in (None, WILDCARD):
            raise AblyError(40012, 400, f"Annotations of type {annotation.type} need an identified client")
        total += annotation.size
    if total > max_size:
        raise too_large(total, max_size)
