"""The local launcher drives a fake stream task (tests/unit/local/fake_task.py) as Step Functions drives the
real one: routed by `playout.workflow.next_step`, settled through its run book, stopped by signals."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from local.launcher import LocalLauncher
from playout.launcher import RunState
from playout.workflow import Action, RetryPolicy, Step

FAKE_TASK = Path(__file__).with_name("fake_task.py")
FAST = RetryPolicy(max_attempts=3, interval_s=0, backoff_rate=1.0, max_delay_s=0, healthy_after_s=60)


@dataclass
class Log:
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, message: str, **fields: Any) -> None:
        self.events.append({"message": message, **fields})

    def line(self, text: str) -> None:
        pass

    def exits(self) -> list[Any]:
        return [e["exit_code"] for e in self.events if e["message"] == "task exited"]


@dataclass
class Book:
    settled: list[tuple[str, Step]] = field(default_factory=list)
    sweeps: list[Any] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def settle(self, stream_id: str, user_id: str, run_id: str, step: Step) -> None:
        self.settled.append((run_id, step))
        self.done.set()

    def sweep(self, inspector: Any) -> list[Any]:
        self.sweeps.append(inspector)
        return []


@dataclass
class Harness:
    launcher: LocalLauncher
    book: Book
    log: Log
    plan: Path
    trace: Path

    def run(self, *steps: dict[str, Any], run_id: str = "run_1") -> None:
        self.plan.write_text(json.dumps(list(steps)))
        self.launcher.start("str_1", "user-1", run_id)

    def settled(self, timeout: float = 20) -> Step:
        assert self.book.done.wait(timeout), f"no settle; exits so far: {self.log.exits()}"
        return self.book.settled[-1][1]

    def attempts(self) -> list[dict[str, Any]]:
        if not self.trace.exists():
            return []
        return [json.loads(line) for line in self.trace.read_text().splitlines()]

    def wait_for_attempts(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.attempts()) < count:
            assert time.monotonic() < deadline, f"only {len(self.attempts())} attempts"
            time.sleep(0.02)
        time.sleep(0.1)  # the fake installs its SIGTERM handler right after tracing


def _harness(tmp_path: Path, policy: RetryPolicy = FAST, **options: Any) -> Harness:
    plan, trace = tmp_path / "plan.json", tmp_path / "trace.jsonl"
    book, log = Book(), Log()
    launcher = LocalLauncher(
        task_env={"PLAN": str(plan), "TRACE": str(trace), "TABLE_NAME": "t"},
        log=log,  # type: ignore[arg-type]
        command=(sys.executable, str(FAKE_TASK)),
        retry_policy=policy,
        book=book,
        **options,
    )
    return Harness(launcher, book, log, plan, trace)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = _harness(tmp_path)
    yield h
    h.launcher.stop_all(grace_s=1)


def test_the_task_gets_only_the_run_ids_and_the_task_definition_environment(harness: Harness) -> None:
    harness.run({"exit": 0})
    assert harness.settled().action is Action.DONE
    (attempt,) = harness.attempts()
    assert attempt["env"] == {"STREAM_ID": "str_1", "USER_ID": "user-1", "RUN_ID": "run_1", "TABLE_NAME": "t"}


def test_each_launch_is_written_to_the_inputs_file_with_its_overrides_only(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    h = _harness(tmp_path, inputs_file=inputs)
    try:
        h.run({"exit": 1}, {"exit": 0})
        assert h.settled().action is Action.DONE
    finally:
        h.launcher.stop_all(grace_s=1)
    launches = [json.loads(line) for line in inputs.read_text().splitlines()]
    overrides = {"STREAM_ID": "str_1", "USER_ID": "user-1", "RUN_ID": "run_1"}
    assert [(launch["attempt"], launch["overrides"]) for launch in launches] == [
        (1, overrides),
        (2, overrides),
    ]
    assert launches[0]["command"] == [sys.executable, str(FAKE_TASK)]


def test_an_interrupted_task_is_resumed_at_once_and_not_counted_as_a_crash(harness: Harness) -> None:
    harness.run(
        {"exit": 143}, {"exit": 1}, {"exit": 143}, {"exit": 1}, {"exit": 143}, {"exit": 1}, {"exit": 3}
    )
    step = harness.settled()
    assert harness.log.exits() == [143, 1, 143, 1, 143, 1, 3]
    assert step.action is Action.SETTLE_ENDED


def test_crashes_in_a_row_beyond_the_budget_fail_the_run_with_the_reason(harness: Harness) -> None:
    harness.run({"exit": 1})
    step = harness.settled()
    assert harness.log.exits() == [1, 1, 1, 1]
    assert step.action is Action.SETTLE_FAILED
    assert step.reason == "the stream task exited with code 1 4 times in a row; retries were exhausted"


def test_a_healthy_run_rearms_the_crash_budget(tmp_path: Path) -> None:
    policy = RetryPolicy(max_attempts=2, interval_s=0, backoff_rate=1.0, max_delay_s=0, healthy_after_s=1)
    h = _harness(tmp_path, policy)
    try:
        # Two crashes spend the budget; the third run was healthy, so its crash starts a fresh one.
        h.run({"exit": 1}, {"exit": 1}, {"exit": 1, "sleep": 1.3}, {"exit": 1}, {"exit": 0})
        assert h.settled().action is Action.DONE
        assert h.log.exits() == [1, 1, 1, 1, 0]
    finally:
        h.launcher.stop_all(grace_s=1)


def test_a_task_that_fails_for_good_is_not_retried(harness: Harness) -> None:
    harness.run({"exit": 4})
    step = harness.settled()
    assert harness.log.exits() == [4]
    assert step == Step(Action.SETTLE_FAILED, reason="the stream task failed (exit code 4)")


def test_a_task_that_cannot_start_is_retried_then_failed(tmp_path: Path) -> None:
    h = _harness(tmp_path)
    h.launcher._command = [str(tmp_path / "no-such-binary")]
    try:
        h.run({"exit": 0})
        step = h.settled()
        assert h.log.exits() == [None, None, None, None]
        assert step.reason == "the stream task could not be started 4 times in a row; retries were exhausted"
    finally:
        h.launcher.stop_all(grace_s=1)


def test_stop_ends_a_running_task_within_a_second(harness: Harness) -> None:
    harness.run({"sleep": 60, "on_sigterm": 0})
    harness.wait_for_attempts(1)
    assert harness.launcher.run_state("run_1") is RunState.RUNNING
    asked = time.monotonic()
    harness.launcher.stop("str_1", "user-1", "run_1", None)
    assert harness.settled(timeout=5).action is Action.DONE
    assert time.monotonic() - asked < 1.0
    assert harness.launcher.run_state("run_1") is RunState.ENDED
    assert harness.launcher.run_state("run_other") is RunState.MISSING


def test_stop_during_a_retrys_backoff_starts_the_next_task_at_once(tmp_path: Path) -> None:
    slow = RetryPolicy(max_attempts=3, interval_s=30, backoff_rate=1.0, max_delay_s=30, healthy_after_s=60)
    h = _harness(tmp_path, slow)
    try:
        h.run({"exit": 1}, {"exit": 0})
        h.wait_for_attempts(1)
        time.sleep(0.3)  # the crash is in, the 30 s backoff has begun
        asked = time.monotonic()
        h.launcher.stop("str_1", "user-1", "run_1", None)
        assert h.settled(timeout=5).action is Action.DONE  # the new task finds `stopping` and settles
        assert time.monotonic() - asked < 3.0
        assert h.log.exits() == [1, 0]
    finally:
        h.launcher.stop_all(grace_s=1)


def test_a_hung_task_stopped_by_the_watchdog_is_killed_after_the_grace_and_retried(tmp_path: Path) -> None:
    h = _harness(tmp_path, stop_grace_s=0.5)
    try:
        h.run({"sleep": 60, "on_sigterm": "ignore"}, {"exit": 0})
        h.wait_for_attempts(1)
        h.launcher.stop_run_task("run_1", None, "no heartbeat for 31 s")
        assert h.settled(timeout=10).action is Action.DONE
        assert h.log.exits() == [137, 0]  # SIGKILL, as ECS reports it; then the retry resumes
    finally:
        h.launcher.stop_all(grace_s=1)


def test_the_watchdog_sweeps_with_the_launcher_as_its_inspector(harness: Harness) -> None:
    harness.launcher.start_watchdog(interval_s=0.05)
    deadline = time.monotonic() + 5
    while not harness.book.sweeps and time.monotonic() < deadline:
        time.sleep(0.02)
    assert harness.book.sweeps
    assert harness.book.sweeps[0] is harness.launcher


def test_starting_the_same_run_twice_runs_one_workflow(harness: Harness) -> None:
    harness.plan.write_text(json.dumps([{"sleep": 0.5}]))
    harness.launcher.start("str_1", "user-1", "run_1")
    harness.launcher.start("str_1", "user-1", "run_1")
    harness.settled()
    time.sleep(0.2)
    assert len(harness.attempts()) == 1
    assert len(harness.book.settled) == 1


@dataclass
class MediaBook:
    settled: list[tuple[str, str, str, Step]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def settle(self, media_id: str, user_id: str, job_id: str, step: Step) -> None:
        self.settled.append((media_id, user_id, job_id, step))
        self.done.set()


def test_a_media_job_runs_its_command_with_its_ids_and_a_budget_of_its_own(tmp_path: Path) -> None:
    media_policy = RetryPolicy(
        max_attempts=1, interval_s=0, backoff_rate=1.0, max_delay_s=0, healthy_after_s=60
    )
    media_book = MediaBook()
    h = _harness(
        tmp_path,
        media_job_command=(sys.executable, str(FAKE_TASK)),
        media_job_retry_policy=media_policy,
        media_book=media_book,
    )
    try:
        h.plan.write_text(json.dumps([{"exit": 1}]))
        h.launcher.start_media_job("med_1", "user-1", "job_1")
        h.launcher.start_media_job("med_1", "user-1", "job_1")  # one workflow per job id

        assert media_book.done.wait(20)
        media_id, user_id, job_id, step = media_book.settled[-1]
        assert (media_id, user_id, job_id, step.action) == ("med_1", "user-1", "job_1", Action.SETTLE_FAILED)
        assert [a["env"] for a in h.attempts()] == [
            {"MEDIA_ID": "med_1", "JOB_ID": "job_1", "USER_ID": "user-1", "TABLE_NAME": "t"}
        ] * 2
        assert h.book.settled == []  # the streams' book never hears of it
    finally:
        h.launcher.stop_all(grace_s=1)


def test_a_run_is_running_to_the_watchdog_until_its_settle_is_written(tmp_path: Path) -> None:
    """A sweep between the last exit and the settle must not take the run for one that ended unsettled."""
    harness = _harness(tmp_path)
    harness.launcher._command = [str(tmp_path / "no-such-task")]
    seen_while_settling: list[RunState] = []
    record = harness.book.settle

    def settle(stream_id: str, user_id: str, run_id: str, step: Step) -> None:
        seen_while_settling.append(harness.launcher.run_state(run_id))
        record(stream_id, user_id, run_id, step)

    harness.book.settle = settle  # type: ignore[method-assign]
    try:
        harness.launcher.start("str_1", "user-1", "run_1")
        assert harness.settled().action is Action.SETTLE_FAILED
        assert seen_while_settling == [RunState.RUNNING]
        assert harness.launcher.run_state("run_1") is RunState.ENDED
    finally:
        harness.launcher.stop_all(grace_s=1)
