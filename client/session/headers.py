"""Transport-tier headers for inputs, outputs, lifecycle and steps; parsing lifecycle messages back."""

from __future__ import annotations

import uuid

from ..codec import headers as h
from ..codec.errors import AitError, ErrorCode
from ..types import Message
from .types import RunEndReason, RunLifecycleEvent, StepEndReason, StepLifecycleEvent


def new_id() -> str:
    return str(uuid.uuid4())


def transport_headers(*, role: str, codec_message_id: str, run_id: str | None = None,
                      run_client_id: str | None = None, parent: str | None = None, fork_of: str | None = None,
                      regenerates: str | None = None, supersedes: str | None = None,
                      invocation_id: str | None = None, input_client_id: str | None = None,
                      input_codec_message_id: str | None = None, event_id: str | None = None,
                      step_id: str | None = None, step_start_serial: str | None = None,
                      step_client_id: str | None = None) -> dict[str, str]:
    """Headers for an `ai-input`/`ai-output` (JS `buildTransportHeaders`), in the JS key order."""
    out = {h.ROLE: role, h.CODEC_MESSAGE_ID: codec_message_id}
    if run_id is not None:
        out[h.RUN_ID] = run_id
    if run_client_id is not None:
        out[h.RUN_CLIENT_ID] = run_client_id
    for key, value in ((h.PARENT, parent), (h.FORK_OF, fork_of), (h.MSG_REGENERATE, regenerates),
                       (h.SUPERSEDES, supersedes), (h.INVOCATION_ID, invocation_id)):
        if value:
            out[key] = value
    if input_client_id is not None:
        out[h.INPUT_CLIENT_ID] = input_client_id
    if input_codec_message_id is not None:
        out[h.INPUT_CODEC_MESSAGE_ID] = input_codec_message_id
    if event_id:
        out[h.EVENT_ID] = event_id
    for key, value in ((h.STEP_ID, step_id), (h.STEP_START_SERIAL, step_start_serial),
                       (h.STEP_CLIENT_ID, step_client_id)):
        if value is not None:
            out[key] = value
    return out


def lifecycle_headers(*, run_id: str, run_client_id: str, parent: str | None = None, fork_of: str | None = None,
                      regenerates: str | None = None, invocation_id: str | None = None,
                      input_client_id: str | None = None, input_codec_message_id: str | None = None,
                      reason: RunEndReason | None = None, error_code: int | None = None,
                      error_message: str | None = None) -> dict[str, str]:
    """Headers for `ai-run-*` (JS `buildLifecycleHeaders`)."""
    out = {h.RUN_ID: run_id, h.RUN_CLIENT_ID: run_client_id}
    for key, value in ((h.RUN_REASON, reason), (h.PARENT, parent), (h.FORK_OF, fork_of),
                       (h.MSG_REGENERATE, regenerates), (h.INVOCATION_ID, invocation_id),
                       (h.INPUT_CLIENT_ID, input_client_id), (h.INPUT_CODEC_MESSAGE_ID, input_codec_message_id)):
        if value is not None:
            out[key] = value
    if error_code is not None:
        out[h.ERROR_CODE] = str(error_code)
    if error_message is not None:
        out[h.ERROR_MESSAGE] = error_message
    return out


def step_headers(*, run_id: str, step_id: str, step_start_serial: str | None = None,
                 invocation_id: str | None = None, run_client_id: str | None = None,
                 invocation_client_id: str | None = None, step_client_id: str | None = None,
                 reason: StepEndReason | None = None) -> dict[str, str]:
    """Headers for `ai-step-*` (JS `buildStepHeaders`); the invocation client rides `input-client-id`."""
    out = {h.RUN_ID: run_id, h.STEP_ID: step_id}
    for key, value in ((h.STEP_START_SERIAL, step_start_serial), (h.INVOCATION_ID, invocation_id),
                       (h.RUN_CLIENT_ID, run_client_id), (h.INPUT_CLIENT_ID, invocation_client_id),
                       (h.STEP_CLIENT_ID, step_client_id), (h.STEP_REASON, reason)):
        if value is not None:
            out[key] = value
    return out


def transport_message(name: str, headers: dict[str, str]) -> Message:
    """A lifecycle, step or cancel message: transport tier only, no data."""
    return Message(name=name, extras={"ai": {"transport": headers}})


def cancel_message(*, run_id: str | None = None, input_codec_message_id: str | None = None) -> Message:
    """`ai-cancel` naming a run by id and/or by the trigger's codec-message-id."""
    headers = {h.EVENT_ID: new_id()}
    if run_id is not None:
        headers[h.RUN_ID] = run_id
    if input_codec_message_id is not None:
        headers[h.INPUT_CODEC_MESSAGE_ID] = input_codec_message_id
    return transport_message(h.CANCEL, headers)


def run_end_error(headers: dict[str, str]) -> AitError:
    """The error an `ai-run-end{error}` reports: code from `error-code` else 104008."""
    raw = headers.get(h.ERROR_CODE)
    try:
        code = int(raw) if raw is not None else int(ErrorCode.STREAM_ERROR)
    except ValueError:
        code = int(ErrorCode.STREAM_ERROR)
    status = code // 100 if 10000 <= code < 60000 else 500
    return AitError(code, status, headers.get(h.ERROR_MESSAGE, "agent reported an error"))


RUN_LIFECYCLE = frozenset({h.RUN_START, h.RUN_SUSPEND, h.RUN_RESUME, h.RUN_END})
STEP_LIFECYCLE = frozenset({h.STEP_START, h.STEP_END})


def parse_run_lifecycle(name: str, headers: dict[str, str], serial: str | None,
                        timestamp: int | None) -> RunLifecycleEvent | None:
    run_id = headers.get(h.RUN_ID)
    if not run_id:
        return None
    client_id = headers.get(h.RUN_CLIENT_ID, "")
    invocation_id = headers.get(h.INVOCATION_ID, "")
    if name == h.RUN_START:
        return RunLifecycleEvent("start", run_id, client_id, invocation_id, serial, timestamp,
                                 parent=headers.get(h.PARENT), fork_of=headers.get(h.FORK_OF),
                                 regenerates=headers.get(h.MSG_REGENERATE),
                                 input_codec_message_id=headers.get(h.INPUT_CODEC_MESSAGE_ID))
    if name == h.RUN_SUSPEND:
        return RunLifecycleEvent("suspend", run_id, client_id, invocation_id, serial, timestamp)
    if name == h.RUN_RESUME:
        return RunLifecycleEvent("resume", run_id, client_id, invocation_id, serial, timestamp)
    if name == h.RUN_END:
        reason = headers.get(h.RUN_REASON, "complete")
        if reason not in ("complete", "cancelled", "error"):
            reason = "complete"
        error = run_end_error(headers) if reason == "error" else None
        return RunLifecycleEvent("end", run_id, client_id, invocation_id, serial, timestamp,
                                 reason=reason, error=error)  # type: ignore[arg-type]
    return None


def parse_step_lifecycle(name: str, headers: dict[str, str], serial: str | None,
                         timestamp: int | None) -> StepLifecycleEvent | None:
    run_id = headers.get(h.RUN_ID)
    step_id = headers.get(h.STEP_ID)
    if not run_id or not step_id:
        return None
    scopes = (headers.get(h.INVOCATION_ID, ""), headers.get(h.RUN_CLIENT_ID, ""),
              headers.get(h.INPUT_CLIENT_ID, ""), headers.get(h.STEP_CLIENT_ID, ""))
    if name == h.STEP_START:
        return StepLifecycleEvent("step-start", run_id, step_id, *scopes, serial, timestamp=timestamp)
    if name == h.STEP_END:
        start_serial = headers.get(h.STEP_START_SERIAL)
        if not start_serial:
            return None
        raw = headers.get(h.STEP_REASON)
        reason: StepEndReason = "failed" if raw == "failed" else "cancelled" if raw == "cancelled" else "complete"
        return StepLifecycleEvent("step-end", run_id, step_id, *scopes, serial, start_serial, reason, timestamp)
    return None
