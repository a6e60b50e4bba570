"""The local scheduler fires each scheduled start once, at `scheduled_start - PREWARM_LEAD`, on a clock the
test controls; and on its own thread, on time with the real clock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from local.scheduler import LocalScheduler
from playout.schedules import PREWARM_LEAD, ScheduledStart

T0 = datetime(2030, 1, 1, 20, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _start(stream_id: str, at: datetime) -> ScheduledStart:
    return ScheduledStart("user-1", stream_id, at)


def test_a_start_fires_once_at_its_prewarm_time() -> None:
    clock, fired = Clock(T0), []
    scheduler = LocalScheduler(fire=fired.append, clock=clock)
    scheduler.put(_start("str_a", T0 + timedelta(minutes=10)))
    scheduler.put(_start("str_b", T0 + timedelta(minutes=20)))
    assert scheduler.pending() == {
        "str_a": T0 + timedelta(minutes=10) - PREWARM_LEAD,
        "str_b": T0 + timedelta(minutes=20) - PREWARM_LEAD,
    }

    clock.now = T0 + timedelta(minutes=10) - PREWARM_LEAD - timedelta(seconds=1)
    assert scheduler.run_due() == []
    clock.now += timedelta(seconds=1)
    assert [s.stream_id for s in scheduler.run_due()] == ["str_a"]
    assert [s.stream_id for s in fired] == ["str_a"]
    assert scheduler.run_due() == []  # forgotten once fired, as ActionAfterCompletion=DELETE
    assert list(scheduler.pending()) == ["str_b"]
    assert scheduler.seconds_to_next() == 30.0  # capped: it also wakes on every change


def test_reschedule_moves_and_delete_cancels() -> None:
    clock, fired = Clock(T0), []
    scheduler = LocalScheduler(fire=fired.append, clock=clock)
    scheduler.put(_start("str_a", T0 + timedelta(minutes=5)))
    scheduler.put(_start("str_a", T0 + timedelta(hours=2)))
    scheduler.put(_start("str_b", T0 + timedelta(minutes=5)))
    scheduler.delete("str_b")
    scheduler.delete("str_never")

    clock.now = T0 + timedelta(hours=1)
    assert scheduler.run_due() == []
    clock.now = T0 + timedelta(hours=2)
    (due,) = scheduler.run_due()
    assert due.scheduled_start == T0 + timedelta(hours=2)
    assert fired == [due]


def test_one_failing_start_does_not_stop_the_others() -> None:
    clock, fired = Clock(T0 + timedelta(hours=1)), []

    def fire(start: ScheduledStart) -> None:
        if start.stream_id == "str_bad":
            raise RuntimeError("boom")
        fired.append(start.stream_id)

    scheduler = LocalScheduler(fire=fire, clock=clock)
    scheduler.put(_start("str_bad", T0))
    scheduler.put(_start("str_ok", T0))
    assert len(scheduler.run_due()) == 2
    assert fired == ["str_ok"]


def test_the_timer_thread_fires_on_time() -> None:
    fired_at: list[datetime] = []
    done = threading.Event()

    def fire(start: ScheduledStart) -> None:
        fired_at.append(datetime.now(UTC))
        done.set()

    scheduler = LocalScheduler(fire=fire)
    scheduler.start()
    try:
        due = datetime.now(UTC) + timedelta(seconds=0.6)
        scheduler.put(_start("str_a", due + PREWARM_LEAD))
        assert done.wait(5)
        assert abs((fired_at[0] - due).total_seconds()) < 0.25
        time.sleep(0.2)
        assert len(fired_at) == 1
    finally:
        scheduler.stop()
