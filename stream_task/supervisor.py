"""Runs one ffmpeg process and watches it (datarhei/core's process model, in small): an explicit state
machine, the wanted state (stop) apart from the actual one, a stale-progress watchdog, SIGINT then SIGKILL
after a grace period, and the head and tail of stderr kept for the failure reason.

Reader threads only collect output; every decision and every callback happens on the thread that called
`run`. `request_stop` only sets an attribute, so it is safe from a signal handler."""

from __future__ import annotations

import contextlib
import enum
import logging
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from aws_lambda_powertools import Logger

from stream_task.progress import Progress, ProgressParser

STDERR_KEPT_LINES = 20
STDERR_LOGGED_LINES = 200  # then ffmpeg's warnings are only kept, not logged (a flood costs money)
_POLL_S = 0.2


class State(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"  # spawned; `live` tells whether media flows
    STOPPING = "stopping"  # SIGINT sent, waiting out the grace period
    KILLING = "killing"  # SIGKILL sent
    FINISHED = "finished"


class Cause(enum.Enum):
    EXITED = "exited"  # ffmpeg ended by itself (0: the playlist is done; else it failed)
    STOPPED = "stopped"  # we asked it to stop
    STALE = "stale"  # the watchdog killed it: no progress for too long
    SPAWN_FAILED = "spawn_failed"  # ffmpeg could not be started at all


@dataclass(frozen=True)
class Limits:
    heartbeat_interval_s: float = 2.0
    stale_progress_timeout_s: float = 20.0
    stop_grace_s: float = 5.0


@dataclass
class Outcome:
    cause: Cause
    returncode: int | None = None
    stop_reason: str | None = None
    went_live: bool = False
    last_progress: Progress | None = None
    stderr_head: list[str] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.cause is Cause.EXITED and self.returncode == 0

    def failure_reason(self, max_chars: int = 900) -> str:
        """One line for the stream's `error`: what happened, then the last lines ffmpeg wrote."""
        if self.cause is Cause.SPAWN_FAILED:
            return f"ffmpeg could not be started: {self.error}"
        if self.cause is Cause.STALE:
            head = "ffmpeg made no progress and was stopped"
        else:
            head = f"ffmpeg exited with code {self.returncode}"
        lines = [line for line in self.stderr_tail if line.strip()][-5:]
        reason = f"{head}: {' | '.join(lines)}" if lines else head
        return reason if len(reason) <= max_chars else reason[: max_chars - 1] + "…"


OnLive = Callable[[Progress], None]
OnHeartbeat = Callable[[Progress | None], bool]  # False: stop ffmpeg


def _identity(text: str) -> str:
    return text


class Supervisor:
    def __init__(
        self,
        limits: Limits,
        *,
        on_live: OnLive | None = None,
        on_heartbeat: OnHeartbeat | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        redact: Callable[[str], str] = _identity,
        logger: Logger | logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self._on_live = on_live
        self._on_heartbeat = on_heartbeat
        self._on_progress = on_progress
        self._redact = redact
        self._log = logger or logging.getLogger(__name__)
        self._clock = clock
        self.state = State.IDLE
        self._stop_reason: str | None = None  # the wanted state; set from anywhere, acted on in run()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._latest: Progress | None = None
        self._advanced_at = 0.0
        self._head: list[str] = []
        self._tail: deque[str] = deque(maxlen=STDERR_KEPT_LINES)
        self._logged_lines = 0
        self._went_live = False
        self.pid: int | None = None

    # --- wanted state ---

    def request_stop(self, reason: str) -> None:
        """Asks for a clean stop; the first reason wins. Only assigns: safe in a signal handler."""
        if self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    # --- the process ---

    def run(self, argv: Sequence[str]) -> Outcome:
        """Runs ffmpeg until it exits, is stopped or found stale. The argv is never logged (it holds keys)."""
        if self._stop_reason is not None:
            self.state = State.FINISHED
            return Outcome(Cause.STOPPED, stop_reason=self._stop_reason)
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,  # a Ctrl-C or group signal reaches the supervisor, which decides
            )
        except OSError as error:
            self.state = State.FINISHED
            return Outcome(
                Cause.SPAWN_FAILED, error=self._redact(f"{type(error).__name__}: {error.strerror}")
            )
        self.pid = process.pid
        self.state = State.RUNNING
        started = self._clock()
        self._advanced_at = started
        readers = [
            threading.Thread(
                target=self._read_progress, args=(process.stdout,), name="ffmpeg-progress", daemon=True
            ),
            threading.Thread(
                target=self._read_stderr, args=(process.stderr,), name="ffmpeg-stderr", daemon=True
            ),
        ]
        for reader in readers:
            reader.start()
        self._log.info("ffmpeg started", extra={"pid": process.pid})
        try:
            cause = self._watch(process, started)
        finally:
            if process.poll() is None:  # an exception in a callback: never leave ffmpeg behind
                process.kill()
            process.wait()
            for reader in readers:
                reader.join(timeout=2)
            self.state = State.FINISHED
        with self._lock:
            last = self._latest
        outcome = Outcome(
            cause,
            returncode=process.returncode,
            stop_reason=self._stop_reason if cause is Cause.STOPPED else None,
            went_live=self._went_live,
            last_progress=last,
            stderr_head=list(self._head),
            stderr_tail=list(self._tail),
        )
        self._log.info(
            "ffmpeg finished",
            extra={
                "cause": cause.value,
                "returncode": process.returncode,
                "stop_reason": outcome.stop_reason,
            },
        )
        return outcome

    def _watch(self, process: subprocess.Popen[str], started: float) -> Cause:
        limits = self.limits
        next_beat = started + limits.heartbeat_interval_s
        kill_at: float | None = None
        stale = False
        while process.poll() is None:
            now = self._clock()
            with self._lock:
                latest, advanced_at = self._latest, self._advanced_at
            if not self._went_live and latest is not None and latest.playing:
                self._went_live = True
                self._call(self._on_live, latest)
            if now >= next_beat and self.state is State.RUNNING:
                next_beat = now + limits.heartbeat_interval_s
                if self._on_heartbeat is not None and self._call(self._on_heartbeat, latest) is False:
                    self.request_stop("heartbeat")
            if self.state is State.RUNNING:
                if self._stop_reason is not None:
                    self._log.info("stopping ffmpeg", extra={"reason": self._stop_reason})
                    self._signal(process, signal.SIGINT)
                    self.state, kill_at = State.STOPPING, now + limits.stop_grace_s
                elif now - advanced_at > limits.stale_progress_timeout_s:
                    self._log.error(
                        "no progress from ffmpeg: killing it", extra={"stale_s": round(now - advanced_at, 1)}
                    )
                    self._signal(process, signal.SIGKILL)
                    self.state, stale = State.KILLING, True
            elif self.state is State.STOPPING and kill_at is not None and now >= kill_at:
                self._log.warning("ffmpeg ignored SIGINT: killing it", extra={"grace_s": limits.stop_grace_s})
                self._signal(process, signal.SIGKILL)
                self.state = State.KILLING
            deadlines = [next_beat, now + _POLL_S] + ([kill_at] if kill_at is not None else [])
            self._wake.wait(max(0.0, min(deadlines) - now))
            self._wake.clear()
        if stale:
            return Cause.STALE
        if self._stop_reason is not None and self.state is not State.RUNNING:
            return Cause.STOPPED
        return Cause.EXITED

    def _call(
        self,
        callback: Callable[[Progress], object] | Callable[[Progress | None], object] | None,
        progress: Progress | None,
    ) -> object:
        if callback is None:
            return None
        try:
            return callback(progress)  # type: ignore[arg-type]
        except Exception:  # a failed heartbeat must not take the stream down
            self._log.exception("supervisor callback failed")
            return None

    @staticmethod
    def _signal(process: subprocess.Popen[str], signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    # --- reader threads ---

    def _read_progress(self, stream: IO[str]) -> None:
        parser = ProgressParser()
        for line in stream:
            progress = parser.feed(line)
            if progress is None:
                continue
            with self._lock:
                previous = self._latest
                self._latest = progress
                if _advanced(previous, progress):
                    self._advanced_at = self._clock()
            if self._on_progress is not None:
                self._on_progress(progress)
            self._wake.set()

    def _read_stderr(self, stream: IO[str]) -> None:
        for raw in stream:
            line = self._redact(raw.rstrip("\r\n"))
            if not line:
                continue
            with self._lock:
                if len(self._head) < STDERR_KEPT_LINES:
                    self._head.append(line)
                self._tail.append(line)
                self._logged_lines += 1
                log_it = self._logged_lines <= STDERR_LOGGED_LINES
            if log_it:
                self._log.warning("ffmpeg: %s", line)


def _advanced(previous: Progress | None, current: Progress) -> bool:
    """Progress means output time (or, before the first packet, the frame count) moved forward."""
    if current.out_time_s is not None:
        return previous is None or previous.out_time_s is None or current.out_time_s > previous.out_time_s
    if current.frame is not None:
        return previous is None or previous.frame is None or current.frame > previous.frame
    return False
