"""Publishing run and step lifecycle messages, and remembering each open run's owner."""

from __future__ import annotations

from ...codec import headers as h
from ...errors import AblyError
from ..channel import SessionChannel
from ..headers import lifecycle_headers, step_headers, transport_message
from ..types import RunEndReason, StepEndReason


class RunManager:
    def __init__(self, channel: SessionChannel) -> None:
        self._channel = channel
        self._owners: dict[str, str] = {}

    def register(self, run_id: str, client_id: str | None) -> None:
        self._owners[run_id] = client_id or ""

    def owner(self, run_id: str) -> str | None:
        return self._owners.get(run_id)

    async def start(self, run_id: str, client_id: str | None, *, continuation: bool, parent: str | None,
                    fork_of: str | None, regenerates: str | None, invocation_id: str, input_client_id: str | None,
                    input_codec_message_id: str | None) -> None:
        """`ai-run-start` for a fresh run (with its structure), `ai-run-resume` for a continuation."""
        self.register(run_id, client_id)
        headers = lifecycle_headers(
            run_id=run_id, run_client_id=client_id or "", parent=None if continuation else parent,
            fork_of=None if continuation else fork_of, regenerates=None if continuation else regenerates,
            invocation_id=invocation_id, input_client_id=input_client_id,
            input_codec_message_id=input_codec_message_id)
        await self._channel.publish(transport_message(h.RUN_RESUME if continuation else h.RUN_START, headers))

    async def suspend(self, run_id: str, invocation_id: str, input_client_id: str | None,
                      input_codec_message_id: str | None) -> None:
        await self._terminal(h.RUN_SUSPEND, run_id, invocation_id, input_client_id, input_codec_message_id)

    async def end(self, run_id: str, reason: RunEndReason, invocation_id: str, input_client_id: str | None,
                  input_codec_message_id: str | None, error: AblyError | None = None) -> None:
        await self._terminal(h.RUN_END, run_id, invocation_id, input_client_id, input_codec_message_id, reason,
                             error if reason == "error" else None)

    async def _terminal(self, name: str, run_id: str, invocation_id: str, input_client_id: str | None,
                        input_codec_message_id: str | None, reason: RunEndReason | None = None,
                        error: AblyError | None = None) -> None:
        headers = lifecycle_headers(
            run_id=run_id, run_client_id=self._owners.get(run_id, ""), reason=reason, invocation_id=invocation_id,
            input_client_id=input_client_id, input_codec_message_id=input_codec_message_id,
            error_code=error.code if error is not None else None,
            error_message=error.message if error is not None else None)
        await self._channel.publish(transport_message(name, headers))
        self._owners.pop(run_id, None)

    async def start_step(self, run_id: str, step_id: str, *, invocation_id: str, run_client_id: str | None,
                         invocation_client_id: str | None, step_client_id: str) -> str | None:
        """`ai-step-start`; its serial is the attempt's identity."""
        headers = step_headers(run_id=run_id, step_id=step_id, invocation_id=invocation_id,
                               run_client_id=run_client_id, invocation_client_id=invocation_client_id,
                               step_client_id=step_client_id)
        result = await self._channel.publish(transport_message(h.STEP_START, headers))
        return result.serials[0] if result.serials else None

    async def end_step(self, run_id: str, step_id: str, step_start_serial: str, reason: StepEndReason, *,
                       invocation_id: str, run_client_id: str | None, invocation_client_id: str | None,
                       step_client_id: str) -> None:
        headers = step_headers(run_id=run_id, step_id=step_id, step_start_serial=step_start_serial,
                               invocation_id=invocation_id, run_client_id=run_client_id,
                               invocation_client_id=invocation_client_id, step_client_id=step_client_id,
                               reason=reason)
        await self._channel.publish(transport_message(h.STEP_END, headers))

    def close(self) -> None:
        self._owners.clear()
