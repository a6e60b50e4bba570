"""The run's writes to DynamoDB while it plays, from a thread of their own: heartbeats to the health item, the
`live` status and the events. The engine never waits on the database; a throttle, a 5xx or a network blip
is retried with backoff while ffmpeg keeps playing. Only a failed condition means the run was superseded.
With each heartbeat it publishes the run's metrics (playout.metrics): the beat, the seconds and bytes since
the last one, and the restarts and destination failures among the events since then.

Also `retry_write`, for the writes that end a run: retried with backoff until a deadline, then raised so
that the task exits non-zero and the workflow writes the end instead."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from playout import health
from playout.health import Beat, DestinationReport
from playout.metrics import Metric, MetricsBatch
from playout.models import Stream
from playout.streams import mark_live, record_event
from stream_task.engine import Engine
from stream_task.outputs import Output, brief_reason
from stream_task.process import Log

# What a database call may raise that is worth another try (a failed condition is an answer, not an error).
DATABASE_ERRORS: tuple[type[Exception], ...] = (PynamoDBException, ClientError, BotoCoreError, OSError)
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
MAX_QUEUED_EVENTS = 200
# The events that are also counted as metrics (a kind is `destination_<state>` for a destination's change).
EVENT_METRICS: dict[str, Metric] = {
    "restarted": Metric.RESTARTS,
    "destination_retrying": Metric.DESTINATION_FAILURES,
    "destination_failed": Metric.DESTINATION_FAILURES,
}

T = TypeVar("T")


def retry_write(
    write: Callable[[], T],
    *,
    what: str,
    deadline_s: float,
    log: Log,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`write()` until it returns, with backoff; after `deadline_s` the last error is raised."""
    give_up_at = clock() + deadline_s
    attempt = 0
    while True:
        try:
            return write()
        except DATABASE_ERRORS as error:
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            attempt += 1
            if clock() + delay > give_up_at:
                log.error(f"could not {what}; giving up", extra={"attempts": attempt, "error": str(error)})
                raise
            log.warning(f"could not {what}; retrying", extra={"attempt": attempt, "error": str(error)})
            sleep(delay)


@dataclass
class UsageBase:
    """The stream's usage before this task: from the health item at claim."""

    spot_s: float = 0.0
    on_demand_s: float = 0.0
    bytes_sent: list[int] = field(default_factory=list)  # per destination, in the stream's order


@dataclass(frozen=True)
class RunIds:
    user_id: str
    stream_id: str
    run_id: str


class Reporter:
    def __init__(
        self,
        ids: RunIds,
        stream: Stream,
        *,
        log: Log,
        interval_s: float,
        capacity: str,
        base: UsageBase,
        on_wanted: Callable[[str | None], None],
        metrics: MetricsBatch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ids = ids
        self._stream = stream
        self._log = log
        self._interval_s = interval_s
        self._capacity = capacity
        self._base = base
        self._on_wanted = on_wanted
        self._clock = clock
        self._started = clock()
        self._metrics = metrics
        self._metered_at = self._started  # the run's seconds and bytes up to here are published
        self._metered_bytes = 0
        self._metering = threading.Lock()  # the reporter's thread, then the run's own for the last beat
        self._cond = threading.Condition()
        self._events: deque[tuple[str, str]] = deque(maxlen=MAX_QUEUED_EVENTS)
        self._live_pending = False
        self._closing = False
        self._engine: Engine | None = None
        self._outputs: list[Output] = []
        self._destination_ids: list[str] = []
        self._last_rate: tuple[float, int, int] | None = None  # clock, frames, bytes at the last beat
        self.failures = 0  # consecutive failed beats
        self.wanted: str | None = health.WANT_PLAY
        self._thread = threading.Thread(target=self._loop, name="reporter", daemon=True)

    # --- what the run tells it (any thread; never blocks on the database) ---

    def start(self, destination_ids: list[str]) -> None:
        self._destination_ids = list(destination_ids)
        self._thread.start()

    def playing(self, engine: Engine | None, outputs: list[Output]) -> None:
        with self._cond:
            self._engine, self._outputs = engine, list(outputs)

    def on_air(self) -> None:
        with self._cond:
            self._live_pending = True
            self._cond.notify()

    def event(self, kind: str, message: str) -> None:
        if self._metrics is not None and kind in EVENT_METRICS:
            self._metrics.add(EVENT_METRICS[kind])
        with self._cond:
            self._events.append((kind, message[:900]))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout=10)

    # --- written on the run's own thread when it ends ---

    def final_beat(self, deadline_s: float) -> str | None:
        """One last beat (the position a resumed task starts from, the usage totals); what is wanted now."""
        self.flush_events()
        try:
            wanted = retry_write(
                lambda: health.beat(*self._ids_tuple(), self.beat_now()),
                what="write the last heartbeat",
                deadline_s=deadline_s,
                log=self._log,
            )
        except DATABASE_ERRORS:
            self._publish_metrics(Metric.HEARTBEAT_FAILURES)
            raise
        self._publish_metrics(Metric.HEARTBEATS)
        self.wanted = wanted
        return wanted

    def flush_events(self) -> None:
        while True:
            with self._cond:
                if not self._events:
                    return
                kind, message = self._events[0]
            try:
                record_event(self.ids.user_id, self.ids.stream_id, kind, message, self.ids.run_id)
            except DATABASE_ERRORS as error:
                self._log.warning("could not record an event", extra={"type": kind, "error": str(error)})
                return
            with self._cond:
                if self._events and self._events[0] == (kind, message):
                    self._events.popleft()

    # --- the reporter's thread ---

    def _loop(self) -> None:
        while True:
            try:
                self._serve()
                return
            except Exception:
                # A bug here must not silence the heartbeat for good (the watchdog would stop the task).
                self._log.exception("reporter failed; starting it again")
                time.sleep(BACKOFF_S[-1] / 10)

    def _serve(self) -> None:
        next_beat = self._clock()
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._closing or self._live_pending or bool(self._events),
                    timeout=max(0.0, next_beat - self._clock()),
                )
                if self._closing:
                    return
                live_pending = self._live_pending
            ok = True
            if live_pending:
                ok = self._write_live()
            self.flush_events()
            if self._clock() >= next_beat:
                ok = self._beat() and ok
                delay = (
                    self._interval_s
                    if ok
                    else max(self._interval_s, BACKOFF_S[min(self.failures, len(BACKOFF_S)) - 1])
                )
                next_beat = self._clock() + delay
            elif not ok:
                with self._cond:
                    self._cond.wait_for(lambda: self._closing, timeout=BACKOFF_S[0])

    def _write_live(self) -> bool:
        try:
            mark_live(self._stream)
        except DATABASE_ERRORS as error:
            self._log.warning("could not write `live`; retrying", extra={"error": str(error)})
            return False
        with self._cond:
            self._live_pending = False
        self._log.info("live")
        return True

    def _beat(self) -> bool:
        try:
            wanted = health.beat(*self._ids_tuple(), self.beat_now())
        except DATABASE_ERRORS as error:
            self.failures += 1
            self._log.warning(
                "heartbeat not written; playing on and retrying",
                extra={"failures": self.failures, "error": str(error)},
            )
            self._publish_metrics(Metric.HEARTBEAT_FAILURES)
            return False
        if self.failures:
            self._log.info("heartbeat written again", extra={"after_failures": self.failures})
        self.failures = 0
        self.wanted = wanted
        if wanted != health.WANT_PLAY:
            self._on_wanted(wanted)
        self._publish_metrics(Metric.HEARTBEATS)
        return True

    def _publish_metrics(self, beat: Metric) -> None:
        """One EMF line: the beat (written or not), the task's seconds and the bytes sent since the last one,
        and the counted events since then. Numbers only: nothing of a destination (its URL, a reason)."""
        if self._metrics is None:
            return
        with self._cond:
            outputs = list(self._outputs)
        with self._metering:
            now = self._clock()
            sent = sum(output.stats().bytes_sent for output in outputs)
            self._metrics.add(beat)
            self._metrics.add(Metric.STREAM_SECONDS, max(0.0, now - self._metered_at))
            if sent > self._metered_bytes:
                self._metrics.add(Metric.BYTES_SENT, sent - self._metered_bytes)
            # Fewer bytes than last time: new outputs (counting from 0) replaced the old ones.
            self._metered_at, self._metered_bytes = now, sent
            self._metrics.flush()

    def _ids_tuple(self) -> tuple[str, str, str]:
        return self.ids.user_id, self.ids.stream_id, self.ids.run_id

    def beat_now(self) -> Beat:
        now = self._clock()
        ran_s = now - self._started
        base = self._base
        with self._cond:
            engine, outputs = self._engine, list(self._outputs)
        stats = {o.destination_id: o.stats() for o in outputs}
        destinations = []
        for index, destination_id in enumerate(self._destination_ids):
            stat = stats.get(destination_id)
            before = base.bytes_sent[index] if index < len(base.bytes_sent) else 0
            destinations.append(
                DestinationReport(
                    stat.state.value if stat else "connecting",
                    brief_reason(stat.reason) if stat else None,
                    before + (stat.bytes_sent if stat else 0),
                )
            )
        played = engine.played if engine is not None else None
        fps, kbps = self._rates(now, engine)
        return Beat(
            uptime_s=ran_s,
            capacity=self._capacity,
            spot_s=base.spot_s + (ran_s if self._capacity == health.SPOT else 0.0),
            on_demand_s=base.on_demand_s + (ran_s if self._capacity == health.ON_DEMAND else 0.0),
            destinations=destinations,
            position_s=played.output_s if played else None,
            pass_index=played.entry.cursor.pass_index if played else None,
            slot=played.entry.cursor.slot if played else None,
            item_offset_s=played.item_offset_s if played else None,
            item_index=played.entry.item_index if played else None,
            fps=fps,
            bitrate_kbps=kbps,
        )

    def _rates(self, now: float, engine: Engine | None) -> tuple[float | None, float | None]:
        if engine is None:
            return None, None
        frames, sent = engine.aired_frames, engine.aired_bytes
        last, self._last_rate = self._last_rate, (now, frames, sent)
        if last is None or now - last[0] < 0.5:
            return None, None
        elapsed = now - last[0]
        return (frames - last[1]) / elapsed, (sent - last[2]) * 8 / 1000 / elapsed
