"""EventBridge Scheduler, locally: one-time timers that fire `streams.start_scheduled_stream` at
`playout.schedules.fire_time` (the same pre-warm lead as in AWS), each forgotten once it has fired."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from local.logs import LogSink
from playout import streams
from playout.models import utcnow
from playout.schedules import ScheduledStart, fire_time

Fire = Callable[[ScheduledStart], object]


def start_scheduled(start: ScheduledStart) -> object:
    from playout.settings import get_settings, get_youtube_settings
    from playout.youtube.broadcasts import broadcasts_for

    youtube = broadcasts_for(get_youtube_settings(), get_settings())  # as the scheduled-start Lambda does
    return streams.start_scheduled_stream(start.user_id, start.stream_id, start.scheduled_start, youtube)


class LocalScheduler:
    """Implements `playout.schedules.StartScheduler`. `clock` and `fire` are injectable for tests; `run_due()`
    fires what is due now, and `start()` runs it on a thread that sleeps until the next due time."""

    def __init__(
        self,
        *,
        log: LogSink | None = None,
        fire: Fire = start_scheduled,
        clock: Callable[[], datetime] = utcnow,
        max_sleep_s: float = 30.0,
    ) -> None:
        self._log = log
        self._fire = fire
        self._clock = clock
        self._max_sleep_s = max_sleep_s
        self._pending: dict[str, ScheduledStart] = {}
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    # --- StartScheduler protocol ---

    def put(self, start: ScheduledStart) -> None:
        with self._lock:
            self._pending[start.stream_id] = start
        self._changed.set()

    def delete(self, stream_id: str) -> None:
        with self._lock:
            self._pending.pop(stream_id, None)
        self._changed.set()

    # --- the timer ---

    def pending(self) -> dict[str, datetime]:
        """stream_id -> when its schedule fires."""
        with self._lock:
            return {stream_id: fire_time(s.scheduled_start) for stream_id, s in self._pending.items()}

    def run_due(self) -> list[ScheduledStart]:
        """Fires (and forgets, as ActionAfterCompletion=DELETE) every schedule due at `clock()`."""
        now = self._clock()
        with self._lock:
            due = [s for s in self._pending.values() if fire_time(s.scheduled_start) <= now]
            for start in due:
                del self._pending[start.stream_id]
        for start in due:
            try:
                self._fire(start)
                self._event("scheduled start fired", stream_id=start.stream_id)
            except Exception as error:  # one stream's failure must not stop the others' timers
                self._event("scheduled start failed", stream_id=start.stream_id, error=repr(error))
        return due

    def seconds_to_next(self) -> float:
        with self._lock:
            times = [fire_time(s.scheduled_start) for s in self._pending.values()]
        if not times:
            return self._max_sleep_s
        return max(0.0, min(self._max_sleep_s, (min(times) - self._clock()).total_seconds()))

    def start(self) -> None:
        def loop() -> None:
            while not self._closing.is_set():
                self.run_due()
                self._changed.wait(self.seconds_to_next())
                self._changed.clear()

        self._thread = threading.Thread(target=loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._closing.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _event(self, message: str, **fields: object) -> None:
        if self._log is not None:
            self._log.event(message, **fields)
