"""The realtime side of annotations: ANNOTATION publishes, and attachments that receive them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..core.annotate import prepare_annotations
from ..core.annotations import AnnotationSubscription
from ..core.channel import now_ms
from ..protocol.actions import Flag
from ..protocol.annotation import Annotation
from ..protocol.channels import parse_channel_name
from ..protocol.errors import AblyError
from .acks import _Slot

if TYPE_CHECKING:
    from .connection import Attachment, Connection


def watch_annotations(conn: Connection, attachment: Attachment) -> None:
    """Register an attachment for raw annotations (annotation_subscribe) and summaries (subscribe)."""
    raw = bool(attachment.modes & Flag.ANNOTATION_SUBSCRIBE)
    if not raw and attachment.subscription is None:
        return
    conn.hub.annotations.add(attachment.name.base, attachment, AnnotationSubscription(
        conn.write_frame, conn.fmt, attachment.name.wire, raw, attachment.subscription,
        lambda: attachment.attached and conn.attachments.get(attachment.name.wire) is attachment))


def unwatch_annotations(conn: Connection, attachment: Attachment) -> None:
    conn.hub.annotations.remove(attachment.name.base, attachment)


def publish_annotations(conn: Connection, pm: dict[str, Any], slot: _Slot, msg_serial: int) -> None:
    """Validate and store an ANNOTATION ProtocolMessage; the ACK carries the annotations' serials."""
    name = parse_channel_name(pm.get("channel"))
    attachment = conn.attachments.get(name.wire)
    if attachment is not None and attachment.attached and not attachment.modes & Flag.ANNOTATION_PUBLISH:
        raise AblyError(40160, 401, f"Channel {name.wire} is attached without the annotation_publish mode")
    raw = pm.get("annotations")
    if not isinstance(raw, list) or not raw:
        raise AblyError(40000, 400, "ANNOTATION needs a non-empty annotations array")
    annotations = [Annotation.from_wire(a, conn.fmt) for a in raw]
    prepare_annotations(annotations, name.base, conn.auth, conn.client_id, conn.hub.rules,
                        conn.config.max_message_size)
    for index, annotation in enumerate(annotations):
        if annotation.id is None:
            annotation.id = f"{conn.id}:{msg_serial}:{index}"
        annotation.connection_id = conn.id
    future = asyncio.ensure_future(conn.hub.annotations.publish(name.base, annotations, now_ms()))
    future.add_done_callback(lambda f: _published(conn, slot, f))


def _published(conn: Connection, slot: _Slot, future: asyncio.Future[list[Annotation]]) -> None:
    if future.cancelled():
        conn.acks.resolve(slot, AblyError(50001, 500, "Annotation publish cancelled"))
        return
    exc = future.exception()
    if exc is not None:
        conn.acks.resolve(slot, exc if isinstance(exc, AblyError) else AblyError(50001, 500, f"Annotation failed: {exc}"))
        return
    conn.acks.resolve(slot, {"serials": [a.serial for a in future.result()]})
