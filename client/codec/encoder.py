"""Encoder core: the message-append lifecycle that codec encoders map their events onto.

A streamed message is a create (data "", status streaming) followed by fire-and-forget appends
and a closing append (status complete or cancelled). Every append repeats the full header tiers
because an append replaces `extras` wholesale. If an append fails, the flush recovers the stream
with one update carrying the whole accumulated text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..types import Message, PublishResult, UpdateDeleteResult
from .errors import AitError, ErrorCode, ably_cause
from .headers import CODEC_MESSAGE_ID, DISCRETE, STATUS, STREAM, STREAM_ID, ai_extras
from .types import (
    ChannelWriter,
    EncoderOptions,
    MessagePayload,
    StreamPayload,
    WriteOptions,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Stream:
    serial: str
    name: str
    stream_id: str
    accumulated: str
    transport: dict[str, str]
    codec: dict[str, str]
    cancelled: bool = False
    completed: bool = False


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a failed append's exception as seen; the flush reports it."""
    if not task.cancelled():
        task.exception()


class EncoderCore:
    """Publish discrete messages and drive streamed ones through a ChannelWriter."""

    def __init__(self, writer: ChannelWriter, options: EncoderOptions | None = None) -> None:
        opts = options or EncoderOptions()
        self._writer = writer
        self._default_headers = opts.headers
        self._hook: Callable[[Message], None] | None = opts.on_ably_message
        self._streams: dict[str, _Stream] = {}
        self._pending: list[tuple[asyncio.Future[UpdateDeleteResult], str]] = []
        self._flushing: asyncio.Future[None] | None = None
        self._closed = False

    # --- discrete ------------------------------------------------------------------------

    async def publish_discrete(self, payload: MessagePayload, opts: WriteOptions | None = None) -> PublishResult:
        self._assert_open()
        return await self._publish(self._discrete_message(payload, opts))

    async def publish_discrete_batch(self, payloads: list[MessagePayload],
                                     opts: WriteOptions | None = None) -> PublishResult:
        """All parts in one atomic publish, each marked `discrete: "true"`."""
        self._assert_open()
        return await self._publish([self._discrete_message(p, opts, True) for p in payloads])

    # --- streams -------------------------------------------------------------------------

    async def start_stream(self, stream_id: str, payload: StreamPayload, opts: WriteOptions | None = None) -> None:
        self._assert_open()
        transport = self._transport(payload.transport_headers, opts)
        transport[STREAM] = "true"
        transport[STATUS] = "streaming"
        transport[STREAM_ID] = stream_id
        codec = dict(payload.codec_headers or {})
        msg = Message(name=payload.name, data=payload.data, extras={"ai": ai_extras(transport, codec)})
        self._invoke_hook(msg)  # mutations persist: `transport` is the stream's persistent tier
        result = await self._publish(msg)
        serial = result.serials[0] if result.serials else None
        if not serial:
            raise AitError(ErrorCode.INTERNAL_ERROR, 500, f"unable to start stream; no serial returned for stream "
                                                          f"'{payload.name}' (streamId: {stream_id})")
        self._streams[stream_id] = _Stream(serial, payload.name, stream_id, payload.data, transport, codec)

    def append_stream(self, stream_id: str, data: str) -> None:
        """Fire-and-forget; a failure surfaces from the next flush (close/cancel) as a recovery."""
        self._assert_open()
        stream = self._streams.get(stream_id)
        if stream is None:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                           f"unable to append to stream; no active stream for streamId '{stream_id}'")
        stream.accumulated += data
        msg = Message(serial=stream.serial, data=data,
                      extras={"ai": ai_extras(dict(stream.transport), dict(stream.codec))})
        self._invoke_hook(msg)
        self._track(msg, stream_id)

    async def close_stream(self, stream_id: str, payload: StreamPayload) -> None:
        self._assert_open()
        stream = self._streams.get(stream_id)
        if stream is None:
            raise AitError(ErrorCode.INVALID_ARGUMENT, 400,
                           f"unable to close stream; no active stream for streamId '{stream_id}'")
        stream.accumulated += payload.data
        stream.completed = True
        transport, codec = self._closing(stream, payload)
        transport[STATUS] = "complete"
        msg = Message(serial=stream.serial, data=payload.data, extras={"ai": ai_extras(transport, codec)})
        self._invoke_hook(msg)
        self._track(msg, stream_id)
        await self._flush()

    async def cancel_all_streams(self, opts: WriteOptions | None = None) -> None:
        """Close every open stream with status cancelled; idempotent, and never after a complete."""
        self._assert_open()
        for stream in self._streams.values():
            if stream.cancelled or stream.completed:
                continue
            stream.cancelled = True
            transport, codec = self._closing(stream, None, opts)
            transport[STATUS] = "cancelled"
            msg = Message(serial=stream.serial, data="", extras={"ai": ai_extras(transport, codec)})
            self._invoke_hook(msg)
            self._track(msg, stream.stream_id)
        await self._flush()

    async def close(self) -> None:
        """Flush and forget the streams; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._flush()
        finally:
            self._streams.clear()

    # --- ordering, flush and recovery ----------------------------------------------------

    async def _publish(self, messages: Message | list[Message]) -> PublishResult:
        """Publish as a task, so it reaches the channel after the appends already scheduled (FIFO)."""
        return await asyncio.ensure_future(self._writer.publish(messages))

    def _track(self, msg: Message, stream_id: str) -> None:
        future = asyncio.ensure_future(self._writer.append_message(msg))
        future.add_done_callback(_retrieve)
        self._pending.append((future, stream_id))

    async def _flush(self) -> None:
        if self._flushing is not None:
            await self._flushing
            return
        snapshot, self._pending = self._pending, []
        if not snapshot:
            return
        self._flushing = asyncio.ensure_future(self._do_flush(snapshot))
        try:
            await self._flushing
        finally:
            self._flushing = None

    async def _do_flush(self, snapshot: list[tuple[asyncio.Future[UpdateDeleteResult], str]]) -> None:
        results = await asyncio.gather(*(f for f, _ in snapshot), return_exceptions=True)
        failed: list[str] = []
        for (_, stream_id), result in zip(snapshot, results):
            if isinstance(result, BaseException) and stream_id not in failed:
                failed.append(stream_id)
        if not failed:
            return
        log.warning("recovering failed appends for streams %s", failed)
        errors: list[tuple[str, BaseException]] = []
        for stream_id in failed:
            stream = self._streams.get(stream_id)
            if stream is None:
                continue
            transport = {**stream.transport, STATUS: "cancelled" if stream.cancelled else "complete"}
            msg = Message(serial=stream.serial, data=stream.accumulated,
                          extras={"ai": ai_extras(transport, dict(stream.codec))})
            try:
                await self._writer.update_message(msg)
            except Exception as exc:  # noqa: BLE001 - every failure is reported together below
                errors.append((stream_id, exc))
        if errors:
            ids = ", ".join(s for s, _ in errors)
            raise AitError(ErrorCode.ENCODER_RECOVERY_FAILED, 500,
                           f"unable to flush pending appends; recovery failed for stream(s): {ids}",
                           ably_cause(errors[0][1]))

    # --- helpers -------------------------------------------------------------------------

    def _assert_open(self) -> None:
        if self._closed:
            raise AitError(ErrorCode.SESSION_CLOSED, 400, "unable to write to encoder; encoder has been closed")

    def _invoke_hook(self, msg: Message) -> None:
        if self._hook is None:
            return
        try:
            self._hook(msg)
        except Exception:
            log.exception("on_ably_message hook raised")

    def _transport(self, payload_transport: dict[str, str] | None, opts: WriteOptions | None) -> dict[str, str]:
        """Defaults, then per-write headers, then what the payload stamps, then the codec-message-id."""
        transport = {**(self._default_headers or {}), **((opts.headers if opts else None) or {}),
                     **(payload_transport or {})}
        if opts is not None and opts.message_id is not None:
            transport[CODEC_MESSAGE_ID] = opts.message_id
        return transport

    def _closing(self, stream: _Stream, payload: StreamPayload | None,
                 opts: WriteOptions | None = None) -> tuple[dict[str, str], dict[str, str]]:
        transport = {**stream.transport, **(self._default_headers or {}),
                     **((opts.headers if opts else None) or {}),
                     **((payload.transport_headers if payload else None) or {})}
        codec = {**stream.codec, **((payload.codec_headers if payload else None) or {})}
        return transport, codec

    def _discrete_message(self, payload: MessagePayload, opts: WriteOptions | None, batch: bool = False) -> Message:
        transport = self._transport(payload.transport_headers, opts)
        transport[STREAM] = "false"
        if batch:
            transport[DISCRETE] = "true"
        extras: dict[str, Any] = {"ai": ai_extras(transport, dict(payload.codec_headers or {}))}
        if payload.ephemeral:
            extras["ephemeral"] = True
        msg = Message(name=payload.name, data=payload.data, extras=extras)
        self._invoke_hook(msg)
        return msg
