"""A channel: one total order of committed publications, fanned out to its subscriptions.

Fan-out never awaits: publications committed in the same loop iteration are coalesced into
one MESSAGE per (channel string, format), encoded and framed once, and written to every
subscription. A subscription being attached buffers live publications until its backlog has
been sent, so the switch from replay to live neither drops nor repeats a message.

The bus that brings publications may lose or reorder them (engine/bus). A channel admits them
in log order: one at or below the last admitted position is a repeat and is dropped; one whose
`previous` position is past the last admitted has a gap before it, so it is held, with whatever
arrives meanwhile, while the gap is read from the log (`replay`, as a resume reads it) and
delivered first. The first attach's head is where admission starts.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..engine.base import Engine, HistoryQuery, Publication
from ..engine.scope import plain_name
from ..observe.metrics import Metrics
from ..protocol.actions import MessageAction
from ..protocol.errors import AblyError
from ..protocol.message import Message
from ..protocol.serial import Position, seq_of_serial
from ..protocol.wire import Format, encode
from .frames import BACKLOG_CHUNK, Framer, backlog_frames, latest_serial, publication_frame
from .rollup import MAX_HINTS, RollupGroup

log = logging.getLogger("broker.channel")

MAX_REWIND = 100
_REWIND_TIME = re.compile(r"^(\d+)([sm])$")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(eq=False, slots=True)
class Subscription:
    """What a channel needs of an attachment: where to write and how to encode."""

    write: Callable[[bytes], None]
    fmt: Format
    wire_name: str
    connection_id: str
    echo: bool = True
    # Awaited between catch-up frames: True once the socket can take more, False if it is gone.
    drained: Callable[[], Awaitable[bool]] | None = None
    live: bool = False
    buffer: list[Publication] = field(default_factory=list)
    # Messages created after `seen_from`, or named in `seen`, reached this subscription whole
    # since it attached, so their appends can go out as fragments.
    seen_from: int = 0
    seen: set[str] = field(default_factory=set)
    # The append rollup window this attachment asked for (ms), or None: the publisher's or the default.
    rollup: int | None = None

    def whole_needed(self, targets: list[MutationTarget]) -> frozenset[tuple[int, int]]:
        """Appends this subscription must get as whole messages; marks their messages seen."""
        if not targets or targets[0].oldest_seq > self.seen_from:
            return frozenset()  # it attached before every target was created: fragments do
        needed: set[tuple[int, int]] = set()
        for target in targets:
            if target.seq > self.seen_from or target.serial in self.seen:
                continue
            self.seen.add(target.serial)
            if target.append:
                needed.add(target.index)
        return frozenset(needed)


@dataclass(frozen=True, slots=True)
class MutationTarget:
    """A mutation in a flush, parsed once for every subscriber."""

    index: tuple[int, int]  # (publication, message)
    serial: str
    seq: int
    append: bool
    oldest_seq: int  # the smallest target seq in the flush (same on every entry)


def mutation_targets(pubs: list[Publication]) -> list[MutationTarget]:
    found = [((i, j), m.serial or "", seq_of_serial(m.serial or ""), m.action == MessageAction.APPEND)
             for i, pub in enumerate(pubs) if pub.aggregates is not None for j, m in enumerate(pub.messages)]
    oldest = min((seq for _, _, seq, _ in found), default=0)
    return [MutationTarget(index, serial, seq, append, oldest) for index, serial, seq, append in found]


@dataclass(slots=True)
class AttachPoint:
    """Result of an attach: the position to report, and whether continuity was kept."""

    position: Position
    backlog: list[Message]
    resumed: bool
    error: AblyError | None = None
    covered: int = 0  # the backlog shows the channel as of this seq; later publications are live


@dataclass(frozen=True, slots=True)
class Rewind:
    count: int | None = None
    since_ms: int | None = None
    limit: int = MAX_REWIND


def parse_rewind(value: str, limit: str | None = None) -> Rewind:
    cap = MAX_REWIND
    if limit is not None:
        if not limit.isdigit():
            raise AblyError(40003, 400, f"Invalid rewindLimit {limit!r}")
        cap = min(int(limit), MAX_REWIND)
    if value.isdigit():
        return Rewind(count=min(int(value), cap), limit=cap)
    m = _REWIND_TIME.match(value)
    if not m:
        raise AblyError(40003, 400, f"Invalid rewind value {value!r}: use N, Ns or Nm")
    seconds = int(m.group(1)) * (60 if m.group(2) == "m" else 1)
    return Rewind(since_ms=now_ms() - seconds * 1000, limit=cap)


class Channel:
    """`name` is the channel's storage key (engine/scope); frames carry each subscription's own name."""

    def __init__(self, name: str, engine: Engine, framer: Framer, rollup_window: int = 0, *,
                 metrics: Metrics) -> None:
        self.name = name
        self._metrics = metrics
        self._engine = engine
        self._framer = framer
        self._subs: dict[Subscription, None] = {}
        self._buffering: dict[Subscription, None] = {}  # attaching: publications go to their buffers
        self._live_groups: dict[int | None, int] = {}  # rollup choice -> live subscriptions with it
        self._queue: list[Publication] = []
        self._flush_scheduled = False
        self._rollup_default = rollup_window  # ms, the broker-wide default
        self._rollup_hints: dict[str, int] = {}  # message serial -> the window its publisher's connection chose
        self._rollup_groups: dict[int | None, RollupGroup] = {}
        self.delivered: Position | None = None  # the last position flushed (held appends included)
        self._admitted: int | None = None  # the last log position put in order (None: before the first attach)
        self._held: list[Publication] | None = []  # not admitted yet: waiting for the first attach or a repair
        self._repair: asyncio.Task[None] | None = None
        self._wanted = 0  # a head an attach read: the repair reads up to it even with nothing held

    @property
    def idle(self) -> bool:
        return not self._subs and not self._queue

    def note_rollup_window(self, serial: str, window: int) -> None:
        """The window the connection appending to `serial` asked for (Ably's transport param)."""
        self._rollup_hints[serial] = window
        if len(self._rollup_hints) > MAX_HINTS:
            del self._rollup_hints[next(iter(self._rollup_hints))]

    @property
    def cursor(self) -> Position | None:
        """A position every live subscription has everything up to (presence frames' channelSerial):
        just before the first held append, so a client that resumes from it loses nothing."""
        held = [p for p in (g.first_held for g in self._rollup_groups.values()) if p is not None]
        if not held:
            return self.delivered
        first = min(held, key=lambda p: p.seq)
        return Position(first.seq - 1, first.epoch)

    @property
    def latest(self) -> Position | None:
        """The furthest position handed to this channel, delivered or queued."""
        return self._queue[-1].position if self._queue else self.delivered

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def on_publication(self, publication: Publication) -> None:
        """A committed publication from the bus: admitted in log order, repeats dropped, gaps repaired."""
        if self._held is not None:
            self._held.append(publication)
        elif self._admit(publication):
            self._enqueue(publication)

    def on_ephemeral(self, publication: Publication) -> None:
        """A publication that is not in the log (ephemeral messages): fanned out after what is queued."""
        self._enqueue(publication)

    def _admit(self, publication: Publication) -> bool:
        """True if `publication` is next in log order; a repeat is dropped, a gap starts a repair."""
        assert self._admitted is not None
        if publication.position.seq <= self._admitted:
            return False
        if publication.previous > self._admitted:
            self._held = [publication]
            self._repair = asyncio.ensure_future(self._repair_gaps())
            return False
        self._admitted = publication.position.seq
        return True

    def _catch_up(self, head: Position) -> None:
        """An attach read `head`: admission starts there on the first attach, and a channel whose
        bus has not brought everything up to it yet reads the rest from the log."""
        if self._admitted is None:
            self._admitted = head.seq
            if not self._admit_held():
                return
        elif head.seq <= self._admitted:
            return
        self._wanted = max(self._wanted, head.seq)
        if self._repair is None:
            if self._held is None:
                self._held = []
            self._repair = asyncio.ensure_future(self._repair_gaps())

    def _admit_held(self) -> bool:
        """Admit held publications in position order up to the first gap; True if one is left."""
        assert self._admitted is not None
        held = sorted(self._held or (), key=lambda pub: pub.position.seq)
        for i, pub in enumerate(held):
            if pub.position.seq <= self._admitted:
                continue
            if pub.previous > self._admitted:
                self._held = held[i:]
                return True
            self._admitted = pub.position.seq
            self._enqueue(pub)
        if self._wanted > self._admitted:
            self._held = []
            return True
        self._held = None
        return False

    async def _repair_gaps(self) -> None:
        """Read each gap from the log, as a resume would, and deliver it before what was held.

        Publications arriving meanwhile are held too. A failed read is retried while anyone is
        subscribed: delivering past a gap would break the channel's order."""
        failures = 0
        while True:
            assert self._held is not None and self._admitted is not None
            after = self._admitted
            until = max([self._wanted, *(pub.previous for pub in self._held[:1])])
            epoch = self._held[0].position.epoch if self._held else None
            try:
                messages = await self._engine.replay(self.name, after, until)
                if epoch is None:
                    epoch = (await self._engine.head(self.name)).epoch
            except Exception:
                log.exception("channel %s: could not read the gap (%d, %d] from the log", plain_name(self.name),
                              after, until, extra={"channel": plain_name(self.name)})
                if not self._subs:
                    break
                failures += 1
                await asyncio.sleep(min(1.0, 0.05 * 2 ** failures))
                continue
            if messages:
                log.warning("channel %s: %d messages in (%d, %d] read from the log (the bus had not brought them)",
                            plain_name(self.name), len(messages), after, until,
                            extra={"channel": plain_name(self.name)})
            for pub in recovered(self.name, messages, after, epoch):
                self._enqueue(pub)
            self._admitted = max(self._admitted, until)
            if not self._admit_held():
                break
        self._held = None
        self._repair = None

    async def caught_up(self, seq: int) -> None:
        """Return once everything up to `seq` is in order (a repair reading it has ended)."""
        while self._repair is not None and (self._admitted or 0) < seq:
            await asyncio.shield(self._repair)

    def _enqueue(self, publication: Publication) -> None:
        self._queue.append(publication)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pubs, self._queue = self._queue, []
        if not pubs:
            return
        self.delivered = pubs[-1].position
        for sub in self._buffering:
            sub.buffer.extend(pubs)
        for key in list(self._live_groups):
            if key == 0 or (key is None and not self._rollup_default and not self._rollup_hints):
                self._deliver(key, pubs)  # no rollup for this group: every append as it comes
                continue
            batch = self._rollup_group(key).feed(pubs)
            if batch:
                self._deliver(key, batch)

    def _rollup_group(self, key: int | None) -> RollupGroup:
        group = self._rollup_groups.get(key)
        if group is None:
            if key is None:
                hints, default = self._rollup_hints, self._rollup_default
                group = RollupGroup(lambda m: hints.get(m.serial or "", default), lambda b: self._deliver(None, b))
            else:
                group = RollupGroup(lambda m: key, lambda b: self._deliver(key, b))
            self._rollup_groups[key] = group
        return group

    def _deliver(self, key: int | None, pubs: list[Publication]) -> None:
        """Frame `pubs` once per (channel string, format, echo, whole) for the live subscriptions
        of one rollup group, and write them."""
        ts = now_ms()
        publishers = {m.connection_id for pub in pubs for m in pub.messages}
        targets = mutation_targets(pubs)
        frames: dict[tuple[str, Format, str | None, frozenset[tuple[int, int]]], bytes | None] = {}
        count = sum(len(pub.messages) for pub in pubs)
        writes = written = 0
        for sub in self._subs:
            if not sub.live or sub.rollup != key:
                continue
            skip = sub.connection_id if not sub.echo and sub.connection_id in publishers else None
            whole = sub.whole_needed(targets)
            frame_key = (sub.wire_name, sub.fmt, skip, whole)
            if frame_key in frames:
                frame = frames[frame_key]
            else:
                frame = frames[frame_key] = self._frame(sub, pubs, ts, skip, whole)
            if frame is not None:
                sub.write(frame)
                writes += 1
                written += len(frame)
        self._metrics.messages_out += count * writes
        self._metrics.message_frame_bytes_out += written

    def _frame(self, sub: Subscription, pubs: list[Publication], ts: int, skip: str | None,
               whole: frozenset[tuple[int, int]]) -> bytes | None:
        """One encoded MESSAGE; a publication that cannot be encoded (ingest checks should make
        that impossible) is logged and skipped for these subscribers, never stopping the fan-out."""
        try:
            obj = publication_frame(sub.wire_name, pubs, sub.fmt, ts, skip, whole)
            return None if obj is None else self._framer(encode(obj, sub.fmt), sub.fmt)
        except Exception:
            log.exception("channel %s: could not encode a %s frame; skipped", plain_name(self.name), sub.fmt.value,
                          extra={"channel": plain_name(self.name)})
            return None

    def remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            del self._subs[sub]
            self._set_live(sub, None)

    def _set_live(self, sub: Subscription, live: bool | None) -> None:
        """Move a registered `sub` between buffering (False), live (True) and gone (None)."""
        if sub.live:
            count = self._live_groups[sub.rollup] - 1
            if count:
                self._live_groups[sub.rollup] = count
            else:
                del self._live_groups[sub.rollup]
        else:
            self._buffering.pop(sub, None)
        sub.live = bool(live)
        if live:
            self._live_groups[sub.rollup] = self._live_groups.get(sub.rollup, 0) + 1
        elif live is not None:
            self._buffering[sub] = None

    async def attach(self, sub: Subscription, cursor: Position | None, rewind: Rewind | None) -> AttachPoint:
        """Register `sub` (buffering) and find its attach point and backlog.

        The caller sends ATTACHED, then awaits `go_live`: until it switches the subscription
        to live delivery, publications are buffered, so they follow the backlog in order.
        """
        if sub in self._subs:
            self._set_live(sub, False)
        else:
            sub.live = False
            self._subs[sub] = None
            self._buffering[sub] = None
        sub.buffer = []
        try:
            head = await self._engine.head(self.name)
            if cursor is not None:
                point = await self._resume_point(cursor, head)
            elif rewind is not None:
                point = await self._rewind_point(rewind, head)
            else:
                point = AttachPoint(head, [], resumed=False)
            point.covered = head.seq
            self._catch_up(head)
            sub.seen_from = point.position.seq
            return point
        except BaseException:
            self.remove(sub)
            raise

    async def _resume_point(self, cursor: Position, head: Position) -> AttachPoint:
        if cursor.epoch != head.epoch or cursor.seq > head.seq:
            error = AblyError(90003, 404, "Unable to recover channel: the cursor is from another or a lost stream")
            return AttachPoint(head, [], resumed=False, error=error)
        backlog = await self._engine.replay(self.name, cursor.seq, head.seq)
        if cursor.seq < (await self._engine.floor(self.name)).seq:  # checked after the read: see _delete_through
            error = AblyError(90003, 404, "Unable to recover channel: messages expired under the channel's retention")
            return AttachPoint(head, [], resumed=False, error=error)
        return AttachPoint(cursor, backlog, resumed=True)

    async def _rewind_point(self, rewind: Rewind, head: Position) -> AttachPoint:
        query = HistoryQuery(direction="backwards", limit=rewind.count if rewind.count is not None else rewind.limit,
                             until=head.seq, start=rewind.since_ms)
        backlog = list(reversed(await self._engine.history(self.name, query))) if query.limit else []
        if not backlog:
            return AttachPoint(head, [], resumed=False)
        return AttachPoint(Position(seq_of_serial(backlog[0].serial or "") - 1, head.epoch), backlog, resumed=False)

    async def go_live(self, sub: Subscription, point: AttachPoint, now: int) -> bool:
        """Send the backlog, then buffered publications after it, then switch to live delivery.

        Both go out as the client reads them (`sub.drained` between frames), so a client
        catching up after a long absence is not cut off by the outbound limit for the burst;
        whatever is published meanwhile is buffered and sent in turn. The switch to live happens
        only once a round of that ended without waiting, so nothing can be buffered after it.
        Returns False if the subscription ended meanwhile (detach, re-attach, lost socket)."""
        for message in point.backlog:
            if seq_of_serial(message.serial or "") <= sub.seen_from:
                sub.seen.add(message.serial or "")
        self._metrics.messages_out += len(point.backlog)
        for frame in backlog_frames(sub.wire_name, point.backlog, sub.fmt, now):
            if not await self._write_paced(sub, self._framer(frame, sub.fmt)):
                return False
        shown = {m.serial: latest_serial(m) for m in point.backlog if m.version}
        skip = None if sub.echo else sub.connection_id
        while True:
            while sub.buffer:
                pending = [pub for pub in sub.buffer if pub.position.seq > point.covered
                           and not (pub.aggregates is not None and _already_shown(pub, shown))]
                sub.buffer = []
                for start in range(0, len(pending), BACKLOG_CHUNK):
                    chunk = pending[start:start + BACKLOG_CHUNK]
                    obj = publication_frame(sub.wire_name, chunk, sub.fmt, now, skip,
                                            sub.whole_needed(mutation_targets(chunk)))
                    self._metrics.messages_out += sum(len(pub.messages) for pub in chunk)
                    framed = None if obj is None else self._framer(encode(obj, sub.fmt), sub.fmt)
                    if framed is not None and not await self._write_paced(sub, framed):
                        return False
            if self._repair is None or (self._admitted or 0) >= point.covered:
                break
            await self.caught_up(point.covered)  # the bus is behind the head this attach read
            self._flush()  # what the repair read goes to the buffer now, not live after the switch
        if sub not in self._subs:
            return False
        group = self._rollup_groups.get(sub.rollup)
        if group is not None:
            group.flush()  # what the group holds reached `sub` through its buffer: release it first
        self._set_live(sub, True)
        return True

    async def _write_paced(self, sub: Subscription, frame: bytes) -> bool:
        """Write one catch-up frame, then wait until the client can take more (no wait if it can)."""
        if sub not in self._subs:
            return False
        sub.write(frame)
        self._metrics.message_frame_bytes_out += len(frame)
        return sub.drained is None or await sub.drained()


def recovered(channel: str, messages: list[Message], after: int, epoch: str) -> list[Publication]:
    """Publications that deliver what `replay` read for a gap, in its order: messages created in
    it grouped by position, and a message mutated in it as its aggregate at its latest version."""
    pubs: list[Publication] = []
    previous = after
    for message in messages:
        latest = latest_serial(message)
        seq = seq_of_serial(latest)
        if latest != message.serial:
            pubs.append(Publication(channel, Position(seq, epoch), [message], [message], previous))
        elif pubs and pubs[-1].aggregates is None and pubs[-1].position.seq == seq:
            pubs[-1].messages.append(message)
        else:
            pubs.append(Publication(channel, Position(seq, epoch), [message], None, previous))
        previous = seq
    return pubs


def _already_shown(pub: Publication, shown: dict[str | None, str]) -> bool:
    """A mutation the backlog's copy of its message already includes (a read can run ahead)."""
    message = pub.messages[0]
    version = message.version.get("serial", "") if message.version else ""
    return message.serial in shown and version <= shown[message.serial]
