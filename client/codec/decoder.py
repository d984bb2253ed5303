"""Decoder core: dispatch on the message action and reconstruct streams from appends.

One tracker per streamed serial. Deliveries are version-guarded (a `version.serial` at or below
what the tracker incorporated decodes to nothing), so the live subscription and history walks can
share one decoder: whichever route delivers content first wins. A late joiner's first contact with
an in-flight stream is a full-contents update; it becomes start + one delta (+ end when complete).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..types import Message
from .headers import (
    STATUS,
    STREAM,
    STREAM_ID,
    codec_headers,
    has_ai_envelope,
    transport_headers,
)
from .types import Event, MessagePayload, StreamTracker

log = logging.getLogger(__name__)

# Ably's message actions, as on the wire (meta = 3 and summary = 4 are not ours to decode)
CREATE, UPDATE, DELETE, APPEND = 0, 1, 2, 5


class DecoderHooks(Protocol):
    def build_start_events(self, tracker: StreamTracker) -> list[Event]: ...

    def build_delta_events(self, tracker: StreamTracker, delta: str) -> list[Event]: ...

    def build_end_events(self, tracker: StreamTracker, closing_codec_headers: dict[str, str]) -> list[Event]: ...

    def decode_discrete(self, payload: MessagePayload) -> list[Event]: ...


def version_serial(message: Message) -> str | None:
    return message.version.serial if message.version is not None else None


def _payload(message: Message) -> MessagePayload:
    return MessagePayload(name=message.name or "", data=message.data,
                          codec_headers=codec_headers(message), transport_headers=transport_headers(message))


class DecoderCore:
    """Decode one wire message at a time into domain events through the codec's hooks."""

    def __init__(self, hooks: DecoderHooks, *, on_stream_update: Callable[[StreamTracker], None] | None = None,
                 on_stream_delete: Callable[[str, StreamTracker | None], None] | None = None) -> None:
        self._hooks = hooks
        self._on_update = on_stream_update
        self._on_delete = on_stream_delete
        self._trackers: dict[str, StreamTracker] = {}

    def decode(self, message: Message) -> list[Event]:
        action = int(message.action)
        if action == CREATE:
            payload = _payload(message)
            if (payload.transport_headers or {}).get(STREAM) == "true":
                return self._streamed_create(payload, message.serial, version_serial(message))
            return self._hooks.decode_discrete(payload)
        if action == APPEND:
            return self._append(message)
        if action == UPDATE:
            return self._update(message)
        if action == DELETE:
            return self._delete(message)
        return []

    # --- guards --------------------------------------------------------------------------

    @staticmethod
    def _already_incorporated(tracker: StreamTracker, version: str | None) -> bool:
        if version is not None and version <= tracker.version:
            return True
        if tracker.closed:
            return True
        if version is not None:
            tracker.version = version
        return False

    @staticmethod
    def _close(tracker: StreamTracker) -> None:
        tracker.closed = True
        tracker.accumulated = ""

    def _terminal(self, tracker: StreamTracker, status: str | None, closing_codec: dict[str, str],
                  out: list[Event]) -> None:
        if status == "complete":
            out.extend(self._hooks.build_end_events(tracker, closing_codec))
            self._close(tracker)
        elif status == "cancelled":
            self._close(tracker)

    # --- actions -------------------------------------------------------------------------

    def _streamed_create(self, payload: MessagePayload, serial: str | None, version: str | None) -> list[Event]:
        if not serial or serial in self._trackers:
            return []
        transport = payload.transport_headers or {}
        tracker = StreamTracker(name=payload.name, stream_id=transport.get(STREAM_ID, ""), accumulated="",
                                codec_headers=dict(payload.codec_headers or {}), transport_headers=dict(transport),
                                version=version or serial)
        self._trackers[serial] = tracker
        return self._hooks.build_start_events(tracker)

    def _append(self, message: Message) -> list[Event]:
        serial = message.serial
        if not serial:
            return []
        tracker = self._trackers.get(serial)
        if tracker is None:
            if not has_ai_envelope(message):
                return []  # an application's own append on a shared channel
            log.warning("append with no tracker for %s; treating as first contact", serial)
            return self._update(message)
        if self._already_incorporated(tracker, version_serial(message)):
            return []
        delta = message.data if isinstance(message.data, str) else ""
        out: list[Event] = []
        if delta:
            tracker.accumulated += delta
            out.extend(self._hooks.build_delta_events(tracker, delta))
        status = transport_headers(message).get(STATUS)
        if status == "complete" or status == "cancelled":  # only a closing append needs the codec tier
            self._terminal(tracker, status, codec_headers(message), out)
        return out

    def _update(self, message: Message) -> list[Event]:
        serial = message.serial
        if not serial:
            return []
        payload = _payload(message)
        transport = payload.transport_headers or {}
        codec = payload.codec_headers or {}
        status = transport.get(STATUS)
        tracker = self._trackers.get(serial)
        if tracker is None:
            return self._first_contact(payload, transport.get(STREAM) == "true", status, serial,
                                       version_serial(message))
        if self._already_incorporated(tracker, version_serial(message)):
            return []
        data = message.data if isinstance(message.data, str) else ""
        if data.startswith(tracker.accumulated):
            delta = data[len(tracker.accumulated):]
            out: list[Event] = []
            if delta:
                tracker.accumulated = data
                out.extend(self._hooks.build_delta_events(tracker, delta))
            self._terminal(tracker, status, codec, out)
            return out
        tracker.accumulated = data  # a replacement, not a continuation: emit nothing
        tracker.codec_headers = dict(codec)
        tracker.transport_headers = dict(transport)
        self._notify(self._on_update, tracker)
        return []

    def _first_contact(self, payload: MessagePayload, streamed: bool, status: str | None, serial: str,
                       version: str | None) -> list[Event]:
        if not streamed:
            return self._hooks.decode_discrete(payload)
        transport = payload.transport_headers or {}
        codec = payload.codec_headers or {}
        data = payload.data if isinstance(payload.data, str) else ""
        tracker = StreamTracker(name=payload.name, stream_id=transport.get(STREAM_ID, ""), accumulated=data,
                                codec_headers=dict(codec), transport_headers=dict(transport),
                                version=version or serial)
        self._trackers[serial] = tracker
        out = list(self._hooks.build_start_events(tracker))
        if data:
            out.extend(self._hooks.build_delta_events(tracker, data))
        if status == "complete":
            out.extend(self._hooks.build_end_events(tracker, codec))
        if status in ("complete", "cancelled"):
            self._close(tracker)
        return out

    def _delete(self, message: Message) -> list[Event]:
        serial = message.serial
        if not serial:
            return []
        tracker = self._trackers.get(serial)
        if self._on_delete is not None:
            try:
                self._on_delete(serial, tracker)
            except Exception:
                log.exception("on_stream_delete raised")
        if tracker is not None:
            self._close(tracker)
        return []

    @staticmethod
    def _notify(callback: Callable[[StreamTracker], Any] | None, tracker: StreamTracker) -> None:
        if callback is None:
            return
        try:
            callback(tracker)
        except Exception:
            log.exception("on_stream_update raised")
