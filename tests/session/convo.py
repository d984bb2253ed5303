"""Build the wire messages of a conversation as the real encoders and header builders produce them,
with channel serials and deliveries as a subscriber sees them. For the pure tree and view tests."""

from __future__ import annotations

import asyncio
from typing import Any

from client.codec import EncoderOptions, WriteOptions, ui_message_codec
from client.codec import headers as h
from client.session.headers import (
    lifecycle_headers,
    new_id,
    step_headers,
    transport_headers,
)
from client.types import Message
from tests.session.wire import RecordingWriter, SerialClock, deliveries, inbound

CODEC = ui_message_codec()


def text_message(text: str, message_id: str | None = None) -> dict[str, Any]:
    return {"id": message_id or new_id(), "role": "user", "parts": [{"type": "text", "text": text}]}


def reply_chunks(text: str, *, pieces: int = 3) -> list[dict[str, Any]]:
    """A streamed one-text reply, split into `pieces` deltas."""
    size = max(1, len(text) // pieces)
    deltas = [text[i:i + size] for i in range(0, len(text), size)]
    return [{"type": "start"}, {"type": "start-step"}, {"type": "text-start", "id": "t1"},
            *({"type": "text-delta", "id": "t1", "delta": d} for d in deltas),
            {"type": "text-end", "id": "t1"}, {"type": "finish-step"}, {"type": "finish", "finishReason": "stop"}]


class Conversation:
    """A scripted channel: each method returns the deliveries (dicts) it produced, in serial order."""

    def __init__(self) -> None:
        self.clock = SerialClock()

    def _encode(self, steps: list[tuple[str, dict[str, Any], WriteOptions | None]],
                options: EncoderOptions | None = None) -> list[dict[str, Any]]:
        writer = RecordingWriter()
        encoder = CODEC.create_encoder(writer, options)

        async def run() -> None:
            for kind, event, write in steps:
                if kind == "input":
                    await encoder.publish_input(event, write)
                else:
                    await encoder.publish_output(event, write)
            await encoder.close()

        asyncio.run(run())
        return writer.log

    def prompt(self, cmid: str, text: str, *, client: str = "alice", parent: str | None = None,
               fork_of: str | None = None, event_id: str | None = None) -> list[dict[str, Any]]:
        headers = transport_headers(role="user", codec_message_id=cmid, run_client_id=client, parent=parent,
                                    fork_of=fork_of, event_id=event_id or new_id())
        log = self._encode([("input", CODEC.create_user_message(text_message(text)), WriteOptions(headers, cmid))])
        return deliveries(log, client_id=client, clock=self.clock)

    def regenerate_signal(self, cmid: str, target: str, parent: str, client: str = "alice") -> list[dict[str, Any]]:
        headers = transport_headers(role="user", codec_message_id=cmid, run_client_id=client, parent=parent,
                                    regenerates=target, event_id=new_id())
        log = self._encode([("input", CODEC.create_regenerate(target, parent), WriteOptions(headers, cmid))])
        return deliveries(log, client_id=client, clock=self.clock)

    def _transport(self, name: str, headers: dict[str, str], client: str = "agent") -> dict[str, Any]:
        serial = self.clock.next()
        return {"name": name, "extras": {"ai": {"transport": headers}}, "action": "message.create",
                "serial": serial, "version": {"serial": serial}, "clientId": client, "timestamp": 1_700_000_000_000}

    def run_start(self, run_id: str, parent: str | None, input_cmid: str, *, owner: str = "alice",
                  regenerates: str | None = None, fork_of: str | None = None) -> dict[str, Any]:
        return self._transport(h.RUN_START, lifecycle_headers(
            run_id=run_id, run_client_id=owner, parent=parent, fork_of=fork_of, regenerates=regenerates,
            invocation_id="I-" + run_id, input_client_id=owner, input_codec_message_id=input_cmid))

    def run_end(self, run_id: str, input_cmid: str, reason: str = "complete", *, owner: str = "alice",
                error: tuple[int, str] | None = None) -> dict[str, Any]:
        return self._transport(h.RUN_END, lifecycle_headers(
            run_id=run_id, run_client_id=owner, reason=reason, invocation_id="I-" + run_id,  # type: ignore[arg-type]
            input_client_id=owner, input_codec_message_id=input_cmid,
            error_code=error[0] if error else None, error_message=error[1] if error else None))

    def step(self, run_id: str, step_id: str, *, end_of: str | None = None, reason: str = "complete") -> dict[str, Any]:
        if end_of is None:
            return self._transport(h.STEP_START, step_headers(run_id=run_id, step_id=step_id, invocation_id="I-" + run_id,
                                                              run_client_id="alice", step_client_id="alice"))
        return self._transport(h.STEP_END, step_headers(run_id=run_id, step_id=step_id, step_start_serial=end_of,
                                                        invocation_id="I-" + run_id, run_client_id="alice",
                                                        step_client_id="alice", reason=reason))  # type: ignore[arg-type]

    def reply(self, run_id: str, cmid: str, chunks: list[dict[str, Any]], *, parent: str | None, input_cmid: str,
              regenerates: str | None = None, owner: str = "alice", step: tuple[str, str] | None = None
              ) -> list[dict[str, Any]]:
        """The agent's outputs for one assistant message (optionally inside step (id, start serial))."""
        defaults = transport_headers(role="assistant", run_id=run_id, codec_message_id=cmid, run_client_id=owner,
                                     parent=parent, invocation_id="I-" + run_id, input_client_id=owner,
                                     input_codec_message_id=input_cmid, regenerates=regenerates,
                                     step_id=step[0] if step else None, step_start_serial=step[1] if step else None)
        log = self._encode([("output", c, None) for c in chunks], EncoderOptions(defaults, None, cmid))
        return deliveries(log, clock=self.clock)


def messages(deliveries_: list[dict[str, Any]]) -> list[Message]:
    return [inbound(d) for d in deliveries_]
