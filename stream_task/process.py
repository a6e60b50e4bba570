"""One ffmpeg child process: spawned in its own session, its stderr kept (head and tail, secrets masked),
stopped with SIGINT then SIGKILL after a grace period (datarhei/core's process model, in small)."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO, Any, Protocol, cast

from stream_task.launch import DIRECT, Launch

STDERR_KEPT_LINES = 20
STDERR_LOGGED_LINES = (
    50  # per process; past that ffmpeg's warnings are kept, not logged (a flood costs money)
)


class Log(Protocol):
    """What the task's modules log through: the standard library's loggers and Powertools' Logger."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def warning(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def error(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def exception(self, msg: object, *args: object, **kwargs: Any) -> None: ...


def _identity(text: str) -> str:
    return text


class ChildProcess:
    """A running ffmpeg. The argv may hold stream keys: it is never logged."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | None = subprocess.DEVNULL,
        redact: Callable[[str], str] = _identity,
        logger: Log | None = None,
        log_stderr: bool = True,
        launch: Launch = DIRECT,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.name = name
        self._launch = launch
        self._redact = redact
        self._log: Log = logger or cast(Log, logging.getLogger(__name__))
        self._log_stderr = log_stderr
        self._lock = threading.Lock()
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=STDERR_KEPT_LINES)
        self._logged = 0
        self.process = launch.popen(
            argv,
            pass_fds=tuple(pass_fds),
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a group signal meant for the task does not reach ffmpeg first
        )
        self.pid = self.process.pid
        self._stderr_reader = threading.Thread(target=self._read_stderr, name=f"{name}-stderr", daemon=True)
        self._stderr_reader.start()

    @property
    def stdin(self) -> IO[bytes] | None:
        return self.process.stdin

    @property
    def stdout(self) -> IO[bytes] | None:
        return self.process.stdout

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        code = self.process.wait(timeout)
        self._stderr_reader.join(timeout=2)
        return code

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._launch.signal(self.process, signum)

    def stop(self, grace_s: float) -> int:
        """SIGINT (ffmpeg then closes its outputs cleanly), SIGKILL when it does not end within grace_s."""
        if self.process.poll() is None:
            self.signal(signal.SIGINT)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
        return self.wait()

    def kill(self) -> int:
        if self.process.poll() is None:
            self.signal(signal.SIGKILL)
        return self.wait()

    def reason(self, head: str, max_chars: int = 600) -> str:
        """One line for an event or the stream's error: what happened, then the last lines ffmpeg wrote."""
        with self._lock:
            lines = [line for line in self.tail if line.strip()][-3:]
        reason = f"{head}: {' | '.join(lines)}" if lines else head
        return reason if len(reason) <= max_chars else reason[: max_chars - 1] + "…"

    def _read_stderr(self) -> None:
        stream = self.process.stderr
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                line = self._redact(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                if not line:
                    continue
                with self._lock:
                    if len(self.head) < STDERR_KEPT_LINES:
                        self.head.append(line)
                    self.tail.append(line)
                    self._logged += 1
                    log_it = self._log_stderr and self._logged <= STDERR_LOGGED_LINES
                if log_it:
                    self._log.warning("%s: %s", self.name, line)
