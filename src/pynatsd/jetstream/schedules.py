"""Message schedules (``allow_msg_schedules``): a stored message that publishes another.

A message with ``Nats-Schedule: <pattern>`` and ``Nats-Schedule-Target: <subject>`` is a
schedule: kept as the last message of its own subject (it is stored with ``Nats-Rollup:
sub``), it produces a message on the target subject of the same stream when the pattern
comes due. Patterns: ``@at <RFC 3339 time>`` (once), ``@every <Go duration>`` (at least a
second), cron (:mod:`pynatsd.jetstream.cron`) and ``@hourly``/``@daily``/... in the zone of
``Nats-Schedule-Time-Zone`` (cron only). The produced message is the schedule's payload and
headers (or, with ``Nats-Schedule-Source``, those of the last message on that subject)
without the scheduling, expectation, id, TTL and rollup headers, plus ``Nats-Scheduler``
(the schedule's subject), ``Nats-Schedule-Next`` (the next time, or ``purge`` for a one-off,
whose schedule is then purged) and ``Nats-TTL``/``Nats-Rollup`` from
``Nats-Schedule-TTL``/``Nats-Schedule-Rollup``. A later message on the schedule's subject
that is not a schedule cancels it; deleting or purging the schedule cancels it too.

Only a stream with schedules on has a :class:`Scheduler`; it keeps one timer for the
earliest due schedule (none when there are none), and rebuilds itself from the store when
the stream starts, so schedules survive restarts. The rules and texts are the reference's.
"""

from __future__ import annotations

import datetime as dt
import heapq
import time
import zoneinfo
from typing import TYPE_CHECKING, Any, Final

from pynatsd.gocompat import GoTimeError, parse_duration_ns, parse_time
from pynatsd.jetstream import cron
from pynatsd.jetstream import headers as H
from pynatsd.jetstream.errors import ApiError, JSErr, api_error
from pynatsd.protocol.subjects import is_valid_literal_subject, subjects_collide

if TYPE_CHECKING:
    from pynatsd.jetstream.stream import Stream

PATTERN = "Nats-Schedule"
TIME_ZONE = "Nats-Schedule-Time-Zone"
SCHEDULE_TTL = "Nats-Schedule-TTL"
SCHEDULE_ROLLUP = "Nats-Schedule-Rollup"
TARGET = "Nats-Schedule-Target"
SOURCE = "Nats-Schedule-Source"
SCHEDULER = "Nats-Scheduler"
NEXT = "Nats-Schedule-Next"
NEXT_PURGE = "purge"

NANOS: Final = 1_000_000_000
MIN_FIRE_DELAY: Final = 0.25  # s: the reference never fires more often, to spare ingest
_GO_ZERO_TIME: Final = -62135596800 * NANOS  # 0001-01-01T00:00:00Z, Go's zero time
_PREDEFINED: Final = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}


class Invalid(ValueError):
    """A pattern the reference refuses."""


# -- headers ------------------------------------------------------------------------------


def value(hdr: bytes, key: str) -> str | None:
    """A header's value as the reference slices it: leading spaces skipped, None when absent."""
    if not hdr:
        return None
    k = b"\r\n" + key.encode() + b":"
    i = hdr.find(k)
    if i < 0:
        return None
    start = i + len(k)
    end = hdr.find(b"\r\n", start)
    return hdr[start : len(hdr) if end < 0 else end].lstrip(b" ").decode("utf-8", "replace")


def strip_prefix(hdr: bytes, prefix: str) -> bytes:
    """``hdr`` without the lines whose key starts with ``prefix``; b"" when nothing is left."""
    p = prefix.encode()
    lines = hdr.split(b"\r\n")
    kept = [lines[0]] + [line for line in lines[1:] if not line.startswith(p)]
    out = b"\r\n".join(kept)
    return b"" if len(out) <= len(H.HDR_LINE) + 2 else out


def _go_round_second(ns: int) -> int:
    """Go's ``Time.Round(time.Second)``: half-way rounds up."""
    rest = ns % NANOS
    return ns - rest if rest * 2 < NANOS else ns + (NANOS - rest)


def format_rfc3339nano(t: dt.datetime) -> str:
    """Go's ``time.RFC3339Nano`` text: fraction without trailing zeros, ``Z`` for a zero offset."""
    out = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        out += f".{t.microsecond:06d}".rstrip("0")
    offset = t.utcoffset() or dt.timedelta(0)
    if not offset:
        return out + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes > 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{out}{sign}{h:02d}:{m:02d}"


def _ns_text(ns: int) -> str:
    secs, frac = divmod(ns, NANOS)
    base = dt.datetime.fromtimestamp(secs, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def location(hdr: bytes) -> dt.tzinfo | None:
    """The zone of ``Nats-Schedule-Time-Zone`` (None when absent); raises 10223 when the
    header is empty or names no zone Go's ``time.LoadLocation`` knows."""
    tz = value(hdr, TIME_ZONE)
    if tz is None:
        return None
    if not tz:
        raise api_error(JSErr.MESSAGE_SCHEDULES_TIME_ZONE_INVALID)
    if tz == "UTC":
        return dt.UTC
    if tz == "Local":
        return dt.datetime.now().astimezone().tzinfo
    try:
        return zoneinfo.ZoneInfo(tz)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        raise api_error(JSErr.MESSAGE_SCHEDULES_TIME_ZONE_INVALID) from None


def parse(pattern: str, tz: dt.tzinfo | None, ts: int) -> tuple[int, str, bool] | None:
    """When ``pattern`` next fires after ``ts`` (ns): ``(ns, RFC 3339 text, repeats)``;
    None for no pattern (or Go's zero time). Raises :class:`Invalid`. A repeating schedule that
    would have fired several times since ``ts`` (after a restart) fires once, from now."""
    if not pattern:
        return None
    if pattern.startswith("@at "):
        if tz is not None:
            raise Invalid(pattern)
        try:
            at = parse_time(pattern[4:])
        except GoTimeError:
            raise Invalid(pattern) from None
        return None if at == _GO_ZERO_TIME else (at, _ns_text(at), False)
    if pattern.startswith("@every "):
        if tz is not None:
            raise Invalid(pattern)
        try:
            every = parse_duration_ns(pattern[7:])
        except ValueError:
            raise Invalid(pattern) from None
        if every < NANOS:
            raise Invalid(pattern)
        nxt = _go_round_second(ts) + every
        now = time.time_ns()
        if nxt < now:
            nxt = _go_round_second(now) + every
        return nxt, _ns_text(nxt), True
    expr = _PREDEFINED.get(pattern, pattern)
    try:
        t = cron.next_time(expr, tz, ts)
        now = time.time_ns()
        if _dt_ns(t) < now:
            t = cron.next_time(expr, tz, _go_round_second(now))
    except cron.CronError:
        raise Invalid(pattern) from None
    return _dt_ns(t), format_rfc3339nano(t), True


def _dt_ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * NANOS + t.microsecond * 1000


def next_schedule(hdr: bytes, ts: int) -> int | None:
    """When the schedule in ``hdr`` is due after ``ts`` (None: not a schedule); raises the
    reference's time zone or pattern error."""
    tz = location(hdr)
    try:
        parsed = parse(value(hdr, PATTERN) or "", tz, ts)
    except Invalid:
        raise api_error(JSErr.MESSAGE_SCHEDULES_PATTERN_INVALID) from None
    return None if parsed is None else parsed[0]


# -- publish rules ------------------------------------------------------------------------


def check_publish(stream: Stream, subject: str, hdr: bytes) -> bytes:
    """Apply the reference's rules to a client message carrying scheduling headers; return
    the headers to store (a schedule gets ``Nats-Rollup: sub``) or raise its error."""
    from pynatsd.jetstream.stream import parse_duration_header  # here: stream.py imports this module

    cfg = stream.config
    allowed = cfg.allow_msg_schedules
    try:
        due = next_schedule(hdr, time.time_ns())
    except ApiError:
        if not allowed:
            raise api_error(JSErr.MESSAGE_SCHEDULES_DISABLED) from None
        raise
    if due is not None:
        if not allowed:
            raise api_error(JSErr.MESSAGE_SCHEDULES_DISABLED)
        ttl = value(hdr, SCHEDULE_TTL) or ""
        if ttl:
            try:
                parse_duration_header(ttl)
            except ValueError:
                raise api_error(JSErr.MESSAGE_SCHEDULES_TTL_INVALID) from None
        rollup = value(hdr, SCHEDULE_ROLLUP) or ""
        if rollup and rollup != "sub":
            raise api_error(JSErr.MESSAGE_SCHEDULES_ROLLUP_INVALID)
        if ttl and not cfg.allow_msg_ttl:
            raise api_error(JSErr.MESSAGE_TTL_DISABLED)
        target = value(hdr, TARGET) or ""
        if not target or not is_valid_literal_subject(target) or target == subject:
            raise api_error(JSErr.MESSAGE_SCHEDULES_TARGET_INVALID)
        source = value(hdr, SOURCE) or ""
        if source and (source in (target, subject) or not is_valid_literal_subject(source)):
            raise api_error(JSErr.MESSAGE_SCHEDULES_SOURCE_INVALID)
        subjects = cfg.subjects or []
        if not any(subjects_collide(s, target) for s in subjects):
            raise api_error(JSErr.MESSAGE_SCHEDULES_TARGET_INVALID)
        if source and not any(subjects_collide(s, source) for s in subjects):
            raise api_error(JSErr.MESSAGE_SCHEDULES_SOURCE_INVALID)
        present = value(hdr, H.ROLLUP)
        if not present:
            hdr = H.append_headers(hdr, [(H.ROLLUP, "sub")])
        elif present != "sub":
            raise api_error(JSErr.MESSAGE_SCHEDULES_ROLLUP_INVALID)
    nxt = value(hdr, NEXT)
    if nxt:
        if nxt != NEXT_PURGE:
            raise api_error(JSErr.MESSAGE_SCHEDULES_SCHEDULER_INVALID)
        scheduler = value(hdr, SCHEDULER) or ""
        if not scheduler or scheduler == subject or not is_valid_literal_subject(scheduler):
            raise api_error(JSErr.MESSAGE_SCHEDULES_SCHEDULER_INVALID)
        if not allowed:
            raise api_error(JSErr.MESSAGE_SCHEDULES_DISABLED)
        last = stream.store.load_last(scheduler)
        if last is not None and not value(last.hdr, PATTERN):
            raise api_error(JSErr.MESSAGE_SCHEDULES_SCHEDULER_INVALID)
    elif value(hdr, SCHEDULER):
        raise api_error(JSErr.MESSAGE_SCHEDULES_SCHEDULER_INVALID)
    return hdr


# -- the timer ----------------------------------------------------------------------------


class Scheduler:
    """The live schedules of one stream (subject -> sequence and due time) and the one
    timer that fires the earliest. Entries in the heap are checked against ``_live`` when
    popped, so replacing or cancelling a schedule costs a dict operation."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self._live: dict[str, tuple[int, int]] = {}  # subject -> (seq, due ns)
        self._heap: list[tuple[int, int, str]] = []  # (due ns, seq, subject)
        self._handle: Any = None
        self._deadline = 0.0  # loop time the timer is set for

    def recover(self) -> None:
        """Rebuild the schedules from the stored messages (they are the state), applying
        the same rules as :meth:`stored` in order: a schedule is due when its pattern says,
        counted from when it was stored, or when the last message it produced said
        (``Nats-Schedule-Next``), so a repeating schedule keeps its cadence; one overdue
        after the downtime fires once, soon after the start."""
        store = self.stream.store
        seq = store.state().first_seq or 1
        live = self._live
        while (sm := store.load_next((), seq)) is not None:
            seq = sm.seq + 1
            hdr = sm.hdr
            due = None
            if hdr and b"Nats-Schedule:" in hdr:
                try:
                    due = next_schedule(hdr, sm.ts)
                except ApiError:
                    due = None
            scheduler = value(hdr, SCHEDULER)
            if due is not None:
                live[sm.subject] = (sm.seq, due)
            elif not scheduler:
                live.pop(sm.subject, None)
            if scheduler and scheduler in live:
                nxt = value(hdr, NEXT) or ""
                if nxt and nxt != NEXT_PURGE:
                    try:
                        live[scheduler] = (live[scheduler][0], parse_time(nxt))
                    except GoTimeError:
                        pass
        self._heap = [(due, seq, subject) for subject, (seq, due) in live.items()]
        heapq.heapify(self._heap)
        self._reset_timer()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._deadline = 0.0

    def __len__(self) -> int:
        return len(self._live)

    def _set(self, subject: str, seq: int, due: int) -> None:
        self._live[subject] = (seq, due)
        heapq.heappush(self._heap, (due, seq, subject))

    def stored(self, seq: int, subject: str, hdr: bytes, ts: int) -> None:
        """After a message is stored: a schedule starts (or replaces its subject's), any
        other client message cancels its subject's schedule, a produced message re-arms or
        purges the schedule that made it."""
        due = None
        if hdr and b"Nats-Schedule:" in hdr:
            try:
                due = next_schedule(hdr, ts)
            except ApiError:
                due = None
        scheduler = value(hdr, SCHEDULER) if hdr else None
        if due is not None:
            self._set(subject, seq, due)
        elif not scheduler and self._live.pop(subject, None) is None:
            return
        if scheduler:
            nxt = value(hdr, NEXT) or ""
            if nxt == NEXT_PURGE:
                self._live.pop(scheduler, None)
                self.stream.purge(subject=scheduler)
            elif nxt and scheduler in self._live:
                try:
                    at = parse_time(nxt)
                except GoTimeError:
                    at = 0
                if at:
                    self._set(scheduler, self._live[scheduler][0], at)
        self._reset_timer()

    def _reset_timer(self) -> None:
        heap, live = self._heap, self._live
        while heap and live.get(heap[0][2]) != (heap[0][1], heap[0][0]):
            heapq.heappop(heap)
        if not heap:
            self.stop()
            return
        loop = self.stream.core.loop
        fire_in = max(MIN_FIRE_DELAY, (heap[0][0] - time.time_ns()) / NANOS)
        deadline = loop.time() + fire_in
        if self._handle is not None:
            if deadline > self._deadline:
                return  # an earlier timer is set: it re-arms for this one when it runs
            self._handle.cancel()
        self._deadline = deadline
        self._handle = loop.call_at(deadline, self._run)

    def _run(self) -> None:
        self._handle = None
        self._deadline = 0.0
        now = time.time_ns()
        due: list[tuple[int, str]] = []
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= now:
            at, seq, subject = heapq.heappop(heap)
            if live.get(subject) == (seq, at):
                due.append((seq, subject))
        for seq, subject in sorted(due):
            if live.get(subject, (0,))[0] != seq:
                continue  # an earlier firing replaced or purged it
            self._fire(seq, subject)
        self._reset_timer()

    def _fire(self, seq: int, subject: str) -> None:
        stream = self.stream
        sm = stream.store.load(seq)
        if sm is None:
            self._live.pop(subject, None)
            return
        produced = produce(stream, sm.subject, sm.hdr, sm.data, self._live[subject][1])
        if produced is None:
            self._live.pop(subject, None)
            return
        target, hdr, data = produced
        try:
            stream.ingest(target, hdr, data, sourced=True)
        except ApiError as e:
            # The reference leaves such a schedule stuck; it never fires again either.
            stream.core.log.warn(
                "Scheduled message of %r on stream %r not stored: %s", subject, stream.name, e
            )
            self._live.pop(subject, None)
        entry = self._live.get(subject)
        if entry is not None and entry[0] == seq and entry[1] <= time.time_ns():
            self._live.pop(subject, None)  # nothing re-armed it


def produce(
    stream: Stream, subject: str, hdr: bytes, data: bytes, due: int
) -> tuple[str, bytes, bytes] | None:
    """The message a due schedule publishes, or None when the schedule is no longer valid."""
    pattern = value(hdr, PATTERN) or ""
    if not pattern:
        return None
    try:
        parsed = parse(pattern, location(hdr), due)
    except (ApiError, Invalid):
        return None
    if parsed is None:
        return None
    _, next_text, repeats = parsed
    ttl = value(hdr, SCHEDULE_TTL) or ""
    if ttl:
        from pynatsd.jetstream.stream import parse_duration_header  # here: stream.py imports this module

        try:
            parse_duration_header(ttl)
        except ValueError:
            return None
    target = value(hdr, TARGET) or ""
    if not target:
        return None
    rollup = value(hdr, SCHEDULE_ROLLUP) or ""
    source = value(hdr, SOURCE) or ""
    if source:
        last = stream.store.load_last(source)
        if last is not None:
            hdr, data = last.hdr, last.data
    out = strip_prefix(hdr, "Nats-Schedule") if hdr else b""
    for prefix in ("Nats-Expected-", H.MSG_ID + ":", H.TTL + ":", H.ROLLUP + ":"):
        if out:
            out = strip_prefix(out, prefix)
    entries = [(SCHEDULER, subject), (NEXT, next_text if repeats else NEXT_PURGE)]
    if ttl:
        entries.append((H.TTL, ttl))
    if rollup:
        entries.append((H.ROLLUP, rollup))
    return target, H.append_headers(out, entries), data
