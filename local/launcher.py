"""Step Functions + ECS, locally: one `python -m stream_task` process per task (`python -m
stream_task.media_job` for a media job), routed after each exit by `playout.workflow.next_step` (the
definition the state machines are built from), settled like the workflows' Settle and Catch states, and
watched by the same watchdog as in AWS (`playout.watchdog`).

Signals map to the exit codes ECS reports: a process ended by SIGTERM exits 143, by SIGKILL 137."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from local.logs import LogSink
from playout import streams, watchdog
from playout.errors import NotFound
from playout.launcher import RunState
from playout.media_jobs import MediaJobSteps
from playout.workflow import MEDIA_JOB_RETRY_POLICY, RETRY_POLICY, Action, RetryPolicy, Step, next_step

STOP_GRACE_S = 10.0  # SIGTERM, then SIGKILL: ECS waits the container's stop timeout
WATCH_INTERVAL_S = 5.0


class RunBook(Protocol):
    """Where the launcher writes what the workflow would (DynamoDB in local mode, a fake in unit tests)."""

    def settle(self, stream_id: str, user_id: str, run_id: str, step: Step) -> None:
        """The workflow's Settle states, and the watchdog for a task that exited 0 without settling."""

    def sweep(self, inspector: watchdog.RunInspector) -> list[watchdog.Finding]:
        """The watchdog's periodic sweep over every active stream."""


def _end_broadcasts(user_id: str, stream_id: str, run_id: str) -> object:
    """What the watchdog Lambda does for a run whose task could not end its YouTube broadcasts."""
    from playout.settings import YouTubeSettings
    from playout.youtube.broadcasts import Broadcasts
    from playout.youtube.google import GoogleProject

    return Broadcasts(GoogleProject(YouTubeSettings())).end_broadcasts(user_id, stream_id, run_id)


class StreamBook:
    def settle(self, stream_id: str, user_id: str, run_id: str, step: Step) -> None:
        try:
            stream = streams.claim_run(user_id, stream_id, run_id)
        except NotFound:
            return
        if stream is None:
            # The task (or a newer run) already settled it. In AWS the task's STOPPED event has the watchdog
            # look at the run once more: its YouTube broadcasts, if the task could not end them.
            settled = streams.get_stream(user_id, stream_id, consistent=True)
            if settled.run_id == run_id:
                watchdog.end_if_over(settled, _end_broadcasts)
            return
        if step.action is Action.SETTLE_ENDED:
            streams.finish(stream, streams.ENDED)
        elif step.action is Action.SETTLE_FAILED:
            streams.finish(stream, streams.FAILED, step.reason)
        else:
            watchdog.settle_orphan(
                stream,
                "the stream task stopped without recording how the stream ended",
                end_broadcasts=_end_broadcasts,
            )
            return
        watchdog.end_if_over(stream, _end_broadcasts)

    def sweep(self, inspector: watchdog.RunInspector) -> list[watchdog.Finding]:
        return watchdog.sweep(inspector, end_broadcasts=_end_broadcasts)


class MediaJobBook:
    """The media job workflow's Catch: a job that ended without writing the media's fate fails it."""

    def __init__(self, steps: Callable[[], MediaJobSteps]) -> None:
        self._steps = steps

    def settle(self, media_id: str, user_id: str, job_id: str, step: Step) -> None:
        if step.action is Action.DONE:
            reason = "the media job stopped without finishing; upload the file again"
        else:
            reason = "the media job failed; upload the file again"
        self._steps().fail_if_unfinished(user_id, media_id, job_id, reason)


def _api_media_job_steps() -> MediaJobSteps:
    from playout import aws
    from playout.settings import get_settings

    settings = get_settings()
    return MediaJobSteps(
        aws.client("s3", settings.s3_addressing_style), settings.media_bucket, settings.storage_quota_bytes
    )


@dataclass
class _Run:
    run_id: str  # the workflow execution's name: a stream's run id or a media job's id
    env: dict[str, str]  # the ids the task reads from its environment
    command: list[str]
    policy: RetryPolicy
    settle: Callable[[Step], None]  # the workflow's Settle states after the last exit
    wake: threading.Event = field(default_factory=threading.Event)  # a stop cuts a retry's backoff short
    process: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None
    done: bool = False

    @property
    def log_ids(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.env.items()}


class LocalLauncher:
    """Implements `playout.launcher.Launcher` and `playout.watchdog.RunInspector`.
    `stop_all()` ends every process it started."""

    def __init__(
        self,
        *,
        task_env: dict[str, str],
        log: LogSink,
        command: Sequence[str] = (sys.executable, "-m", "stream_task"),
        media_job_command: Sequence[str] = (sys.executable, "-m", "stream_task.media_job"),
        cwd: Path | None = None,
        retry_policy: RetryPolicy = RETRY_POLICY,
        media_job_retry_policy: RetryPolicy = MEDIA_JOB_RETRY_POLICY,
        book: RunBook | None = None,
        media_book: MediaJobBook | None = None,
        stop_grace_s: float = STOP_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
        inputs_file: Path | None = None,
    ) -> None:
        """`inputs_file`: where each task's launch is appended as a JSON line (its command and the environment
        it gets beyond the task definition's: what the workflow's input and the ECS overrides hold in AWS), so
        that a test can prove that no secret travels in them."""
        self._task_env = dict(task_env)
        self._log = log
        self._command = list(command)
        self._media_job_command = list(media_job_command)
        self._cwd = cwd
        self._policy = retry_policy
        self._media_job_policy = media_job_retry_policy
        self._book = book or StreamBook()
        self._media_book = media_book or MediaJobBook(_api_media_job_steps)
        self._stop_grace_s = stop_grace_s
        self._clock = clock
        self._inputs_file = inputs_file
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._watchdog: threading.Thread | None = None

    # --- Launcher protocol ---

    def start(self, stream_id: str, user_id: str, run_id: str) -> None:
        def settle(step: Step) -> None:
            self._book.settle(stream_id, user_id, run_id, step)

        ids = {"STREAM_ID": stream_id, "USER_ID": user_id, "RUN_ID": run_id}
        self._start(_Run(run_id, ids, self._command, self._policy, settle))

    def start_media_job(self, media_id: str, user_id: str, job_id: str) -> None:
        def settle(step: Step) -> None:
            self._media_book.settle(media_id, user_id, job_id, step)

        ids = {"MEDIA_ID": media_id, "USER_ID": user_id, "JOB_ID": job_id}
        self._start(_Run(job_id, ids, self._media_job_command, self._media_job_policy, settle))

    def _start(self, run: _Run) -> None:
        if self._closing.is_set():
            raise RuntimeError("local mode is shutting down")
        with self._lock:
            if run.run_id in self._runs:
                return  # one workflow per run, as one execution per run id
            run.thread = threading.Thread(
                target=self._workflow, args=(run,), name=f"run-{run.run_id}", daemon=True
            )
            self._runs[run.run_id] = run
        run.thread.start()

    def stop(self, stream_id: str, user_id: str, run_id: str, task_arn: str | None) -> None:
        """SIGTERM to the run's task (it sees `stopping` and ends); a run waiting to retry retries now."""
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            return
        run.wake.set()
        if run.process is not None:
            _signal(run.process, signal.SIGTERM, group=False)

    # --- RunInspector protocol (the watchdog) ---

    def run_state(self, run_id: str) -> RunState:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            return RunState.MISSING
        return RunState.ENDED if run.done else RunState.RUNNING

    def stop_run_task(self, run_id: str, task_arn: str | None, reason: str) -> None:
        """As StopTask: SIGTERM, then SIGKILL after the grace period (in the background)."""
        with self._lock:
            run = self._runs.get(run_id)
        process = run.process if run else None
        if process is None:
            return
        self._log.event("stopping task", run_id=run_id, pid=process.pid, reason=reason)
        threading.Thread(target=self._terminate, args=(process,), daemon=True).start()

    def start_watchdog(self, interval_s: float = WATCH_INTERVAL_S) -> None:
        def watch() -> None:
            while not self._closing.wait(interval_s):
                try:
                    for finding in self._book.sweep(self):
                        self._log.event("watchdog", **vars(finding))
                except Exception as error:  # the next sweep tries again
                    self._log.event("watchdog sweep failed", error=repr(error))

        self._watchdog = threading.Thread(target=watch, name="watchdog", daemon=True)
        self._watchdog.start()

    # --- the workflow of one run ---

    def _workflow(self, run: _Run) -> None:
        crashes, attempt = 0, 0
        while True:
            attempt += 1
            started = self._clock()
            code = self._run_task(run, attempt)
            if self._closing.is_set():
                return  # local mode is stopping: its tasks were interrupted, not the runs
            step = next_step(code, self._clock() - started, crashes, run.policy)
            self._log.event(
                "task exited",
                **run.log_ids,
                attempt=attempt,
                exit_code=code,
                next=step.action.value,
            )
            if step.action not in (Action.RESUME, Action.RETRY):
                break
            crashes = step.crashes
            if step.delay_s:
                run.wake.wait(step.delay_s)
            if self._closing.is_set():
                return
            run.wake.clear()
        try:
            run.settle(step)
        except Exception as error:  # the watchdog's sweep settles it later
            self._log.event("settle failed", run_id=run.run_id, error=repr(error))
        finally:
            # Only now has the workflow ended: as in Step Functions, its Settle states are part of it, and a
            # watchdog sweep in between must not take the run for one that ended without settling.
            with self._lock:
                run.done = True

    def _run_task(self, run: _Run, attempt: int) -> int | None:
        """The exit code as ECS reports it; None when the task could not start (as a placement failure)."""
        env = {**self._task_env, **run.env}
        self._record_inputs(run, attempt)
        try:
            process = subprocess.Popen(
                run.command,
                env=env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,  # its own group: the task and its ffmpeg can be killed together
            )
        except OSError as error:
            self._log.event("task could not start", run_id=run.run_id, attempt=attempt, error=repr(error))
            return None
        with self._lock:
            run.process = process
        self._log.event("task started", **run.log_ids, attempt=attempt, pid=process.pid)
        pump = threading.Thread(target=self._pump, args=(process.stdout,), daemon=True)
        pump.start()
        returncode = process.wait()
        # As when a task's essential container exits: nothing it started outlives it.
        _signal(process, signal.SIGKILL, group=True)
        pump.join(timeout=5)
        with self._lock:
            run.process = None
        return 128 - returncode if returncode < 0 else returncode

    def _record_inputs(self, run: _Run, attempt: int) -> None:
        if self._inputs_file is None:
            return
        launch = {"run_id": run.run_id, "attempt": attempt, "command": run.command, "overrides": run.env}
        with self._lock, self._inputs_file.open("a", encoding="utf-8") as inputs:
            inputs.write(json.dumps(launch) + "\n")

    def _pump(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                self._log.line(raw.decode("utf-8", errors="replace"))

    # --- shutdown ---

    def children(self) -> list[int]:
        with self._lock:
            return [run.process.pid for run in self._runs.values() if run.process is not None]

    def stop_all(self, grace_s: float | None = None) -> None:
        """No more retries; SIGTERM every task (it stops its ffmpeg), then kill what is left of each group."""
        self._closing.set()
        with self._lock:
            runs = list(self._runs.values())
        processes = [run.process for run in runs if run.process is not None]
        for run in runs:
            run.wake.set()
        for process in processes:
            _signal(process, signal.SIGTERM, group=False)
        for process in processes:
            self._terminate(process, grace_s, already_signalled=True)
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=grace_s or self._stop_grace_s)
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)

    def _terminate(
        self, process: subprocess.Popen[bytes], grace_s: float | None = None, already_signalled: bool = False
    ) -> None:
        if not already_signalled:
            _signal(process, signal.SIGTERM, group=False)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self._stop_grace_s if grace_s is None else grace_s)
        # Whatever it left behind in its group (an ffmpeg it did not reap), and itself if still running.
        _signal(process, signal.SIGKILL, group=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def _signal(process: subprocess.Popen[bytes], signum: int, group: bool) -> None:
    try:
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass
