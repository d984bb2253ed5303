"""Annotations: publish, store, deliver raw, and keep each message's summary.

Storage: each annotated message's annotations are one engine log of their own, under a key no
channel name can take (`annotation_log`), so every engine stores, pages and notifies them like
messages, without a schema of its own. Their serials come from that log; each is stamped at
least one millisecond after the message it annotates, so an annotation's serial always sorts
after its message's serial (ably-js checks that).

Delivery runs from the engine's publication hook, like messages: raw annotations go as
ANNOTATION frames to attachments with the annotation_subscribe mode; the message's new summary
goes as a MESSAGE (action message.summary, the message's serial, `annotations.summary`) to
attachments with the subscribe mode once their message subscription is live. Neither carries a
channelSerial of the annotation log: a summary frame carries the channel's latest position, a
raw annotation none, so a client's resume cursor stays a position of the message stream.
Annotations and summaries are not replayed on resume or rewind as events; the messages a
rewind or resume replays, history and REST reads of a message carry its current summary.

Summaries are folded from the log once per message and then kept up to date from the hook
(a bounded LRU), serialised per message so concurrent annotations fold in serial order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine.base import Engine, HistoryQuery, Publication
from ..engine.scope import plain_name
from ..protocol.actions import Action, MessageAction
from ..protocol.annotation import Annotation, SummarisedMessage
from ..protocol.errors import AblyError, not_found
from ..protocol.message import Message
from ..protocol.serial import COUNTER_LIMIT, parse_serial
from ..protocol.wire import Format, encode
from .channel import Subscription
from .frames import Framer
from .summaries import MessageSummary

log = logging.getLogger(__name__)

ANNOTATION_LOGS = "\nannotations\n"  # the key prefix of every annotation log
SUMMARY_CACHE = 4096
LOAD_PAGE = 1000


def annotation_log(channel: str, message_serial: str) -> str:
    """The log key of one message's annotations (channel names and serials have no line breaks)."""
    return f"{ANNOTATION_LOGS}{channel}\n{message_serial}"


def parse_annotation_log(key: str) -> tuple[str, str] | None:
    if not key.startswith(ANNOTATION_LOGS):
        return None
    channel, _, serial = key[len(ANNOTATION_LOGS):].rpartition("\n")
    return channel, serial


@dataclass(eq=False, slots=True)
class AnnotationSubscription:
    """An attachment as annotations see it: raw annotations if `raw`, summaries via `messages`."""

    write: Callable[[bytes], None]
    fmt: Format
    wire_name: str
    raw: bool
    messages: Subscription | None  # summaries go out once this message subscription is live
    attached: Callable[[], bool]


class AnnotationHub:
    def __init__(self, engine: Engine, framer: Framer, latest: Callable[[str], Any]) -> None:
        self._engine = engine
        self._framer = framer
        self._latest = latest  # channel -> its latest message-stream Position, or None
        self._subs: dict[str, dict[object, AnnotationSubscription]] = {}
        self._summaries: OrderedDict[tuple[str, str], MessageSummary] = OrderedDict()
        self._pending: dict[tuple[str, str], list[Annotation]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- subscriptions ------------------------------------------------------------------

    def add(self, channel: str, key: object, sub: AnnotationSubscription) -> None:
        self._subs.setdefault(channel, {})[key] = sub

    def remove(self, channel: str, key: object) -> None:
        subs = self._subs.get(channel)
        if subs is not None and subs.pop(key, None) is not None and not subs:
            del self._subs[channel]

    # -- publish and read -----------------------------------------------------------------

    async def publish(self, channel: str, annotations: list[Annotation], now_ms: int) -> list[Annotation]:
        """Store annotations (already authorised and stamped with identity); returns them with serials."""
        by_message: dict[str, list[Annotation]] = {}
        for annotation in annotations:
            by_message.setdefault(annotation.message_serial, []).append(annotation)
        for serial, group in by_message.items():
            try:
                created_ms = parse_serial(serial)[0].seq // COUNTER_LIMIT
            except AblyError:
                raise not_found(f"Message {serial} not found on channel {plain_name(channel)}") from None
            if await self._engine.get_message(channel, serial) is None:
                raise not_found(f"Message {serial} not found on channel {plain_name(channel)}")
            entries = [a.to_entry() for a in group]
            await self._engine.append(annotation_log(channel, serial), entries, max(now_ms, created_ms + 1))
            for annotation, entry in zip(group, entries):
                annotation.serial, annotation.timestamp = entry.serial, entry.timestamp
        return annotations

    async def list(self, channel: str, message_serial: str, query: HistoryQuery) -> list[Annotation]:
        entries = await self._engine.history(annotation_log(channel, message_serial), query)
        return [Annotation.from_entry(entry) for entry in entries]

    async def summary(self, channel: str, message_serial: str) -> dict[str, Any] | None:
        """The message's current summary, or None when it has no annotations."""
        key = (channel, message_serial)
        state = self._summaries.get(key)
        if state is None:
            if (await self._engine.head(annotation_log(channel, message_serial))).seq == 0:
                return None
            state = await self._load(key)
        return state.render() if state.types else None

    async def with_summaries(self, channel: str, messages: list[Message]) -> list[Message]:
        """`messages`, each annotated one replaced by a copy carrying its current summary."""
        out: list[Message] = []
        try:
            for message in messages:
                summary = await self.summary(channel, message.serial) if message.serial else None
                out.append(SummarisedMessage.of(message, summary) if summary is not None else message)
        except Exception:  # a read that cannot add summaries still returns the messages
            log.exception("summaries of %s not read", plain_name(channel))
            return messages
        return out

    async def _load(self, key: tuple[str, str]) -> MessageSummary:
        state = MessageSummary()
        log_key = annotation_log(*key)
        query = HistoryQuery(direction="forwards", limit=LOAD_PAGE)
        while True:
            entries = await self._engine.history(log_key, query)
            for entry in entries:
                state.apply(Annotation.from_entry(entry))
            if len(entries) < LOAD_PAGE:
                break
            last = entries[-1].serial or ""
            query = HistoryQuery(direction="forwards", limit=LOAD_PAGE,
                                 cursor=(parse_serial(last)[0].seq, int(last.rpartition(":")[2])))
        cached = self._summaries.get(key)
        if cached is not None:  # folded meanwhile from the hook: keep whichever is further on
            if cached.last_serial >= state.last_serial:
                return cached
        self._summaries[key] = state
        self._summaries.move_to_end(key)
        while len(self._summaries) > SUMMARY_CACHE:
            self._summaries.popitem(last=False)
        return state

    # -- delivery -------------------------------------------------------------------------

    def on_publication(self, publication: Publication) -> bool:
        """Route a committed annotation-log publication; False when it is not one."""
        parsed = parse_annotation_log(publication.channel)
        if parsed is None:
            return False
        annotations = [Annotation.from_entry(entry) for entry in publication.messages]
        channel = parsed[0]
        subs = list(self._subs.get(channel, {}).values())
        self._deliver_raw(channel, annotations, subs)
        pending = self._pending.get(parsed)
        if pending is not None:
            pending.extend(annotations)
        elif parsed in self._summaries or any(sub.messages is not None for sub in subs):
            self._pending[parsed] = list(annotations)
            task = asyncio.ensure_future(self._fold(parsed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    def _deliver_raw(self, channel: str, annotations: list[Annotation], subs: list[AnnotationSubscription]) -> None:
        frames: dict[tuple[str, Format], bytes] = {}
        for sub in subs:
            if not sub.raw or not sub.attached():
                continue
            key = (sub.wire_name, sub.fmt)
            frame = frames.get(key)
            if frame is None:
                obj = {"action": Action.ANNOTATION, "channel": sub.wire_name,
                       "annotations": [a.to_wire(sub.fmt) for a in annotations]}
                frame = frames[key] = self._framer(encode(obj, sub.fmt), sub.fmt)
            sub.write(frame)

    async def _fold(self, key: tuple[str, str]) -> None:
        """Fold what the hook queued for one message, in order, then send its new summary."""
        try:
            while self._pending.get(key):
                batch = self._pending.pop(key)
                self._pending[key] = []  # later publications queue here while this one folds
                state = self._summaries.get(key)
                loaded = state is None
                if state is None:
                    state = await self._load(key)  # the log already holds the batch
                changed = [a for a in batch if state.apply(a)]
                if changed or loaded:
                    self._send_summary(key, state)
        except Exception:
            log.exception("summary of %s on %s not updated", key[1], plain_name(key[0]))
        finally:
            self._pending.pop(key, None)

    def _send_summary(self, key: tuple[str, str], state: MessageSummary) -> None:
        channel, serial = key
        position = self._latest(channel)
        summary = state.render()
        frames: dict[tuple[str, Format], bytes] = {}
        for sub in list(self._subs.get(channel, {}).values()):
            if sub.messages is None or not sub.messages.live or not sub.attached():
                continue
            frame_key = (sub.wire_name, sub.fmt)
            frame = frames.get(frame_key)
            if frame is None:
                obj: dict[str, Any] = {"action": Action.MESSAGE, "channel": sub.wire_name, "messages": [
                    {"action": MessageAction.SUMMARY, "serial": serial, "annotations": {"summary": summary}}]}
                if position is not None:
                    obj["channelSerial"] = str(position)
                frame = frames[frame_key] = self._framer(encode(obj, sub.fmt), sub.fmt)
            sub.write(frame)
