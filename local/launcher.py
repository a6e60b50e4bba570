"""Step Functions + ECS, locally: one `python -m stream_task` process per run, the workflow's retry policy,
then its catch (the stream is marked failed, conditional on the run still being this one and active)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from local.logs import LogSink
from playout import streams
from playout.errors import NotFound
from playout.workflow import RETRY_POLICY, TASK_TIMEOUT_S, RetryPolicy

STOP_GRACE_S = 10.0


class LocalLauncher:
    """Implements `playout.launcher.Launcher`. `stop_all()` ends every process it started."""

    def __init__(
        self,
        *,
        task_env: dict[str, str],
        log: LogSink,
        command: Sequence[str] = (sys.executable, "-m", "stream_task"),
        cwd: Path | None = None,
        retry_policy: RetryPolicy = RETRY_POLICY,
        task_timeout_s: float = TASK_TIMEOUT_S,
    ) -> None:
        self._task_env = dict(task_env)
        self._log = log
        self._command = list(command)
        self._cwd = cwd
        self._policy = retry_policy
        self._task_timeout_s = task_timeout_s
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._runs: list[threading.Thread] = []

    # --- Launcher protocol ---

    def start(self, stream_id: str, user_id: str, run_id: str) -> None:
        if self._closing.is_set():
            raise RuntimeError("local mode is shutting down")
        run = threading.Thread(
            target=self._run, args=(stream_id, user_id, run_id), name=f"run-{run_id}", daemon=True
        )
        with self._lock:
            self._runs = [t for t in self._runs if t.is_alive()]
            self._runs.append(run)
        run.start()

    # --- the workflow of one run ---

    def _run(self, stream_id: str, user_id: str, run_id: str) -> None:
        delays = self._policy.delays()
        failure = ""
        for attempt in range(len(delays) + 1):
            if attempt:
                self._log.event("task retry", stream_id=stream_id, run_id=run_id, attempt=attempt + 1)
                if self._closing.wait(delays[attempt - 1]):
                    return
            code = self._run_task(stream_id, user_id, run_id, attempt + 1)
            if code == 0 or self._closing.is_set():
                return
            failure = (
                "the stream task timed out" if code is None else f"the stream task exited with code {code}"
            )
        self._catch(stream_id, user_id, run_id, f"{failure} after {len(delays) + 1} attempts")

    def _run_task(self, stream_id: str, user_id: str, run_id: str, attempt: int) -> int | None:
        env = {**self._task_env, "STREAM_ID": stream_id, "USER_ID": user_id, "RUN_ID": run_id}
        process = subprocess.Popen(
            self._command,
            env=env,
            cwd=self._cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,  # its own group: the task and its ffmpeg can be killed together
        )
        with self._lock:
            self._children[process.pid] = process
        self._log.event("task started", stream_id=stream_id, run_id=run_id, attempt=attempt, pid=process.pid)
        pump = threading.Thread(target=self._pump, args=(process.stdout,), daemon=True)
        pump.start()
        try:
            code: int | None = process.wait(timeout=self._task_timeout_s)
        except subprocess.TimeoutExpired:
            self._terminate(process)
            code = None
        # As when a task's essential container exits: nothing it started outlives it.
        _signal(process, signal.SIGKILL, group=True)
        pump.join(timeout=5)
        with self._lock:
            self._children.pop(process.pid, None)
        self._log.event("task exited", stream_id=stream_id, run_id=run_id, attempt=attempt, exit_code=code)
        return code

    def _pump(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                self._log.line(raw.decode("utf-8", errors="replace"))

    def _catch(self, stream_id: str, user_id: str, run_id: str, error: str) -> None:
        """The workflow's catch: `failed` only if this run still owns an active stream."""
        try:
            stream = streams.get_stream(user_id, stream_id, consistent=True)
        except NotFound:
            return
        if stream.run_id != run_id or stream.status not in streams.ACTIVE:
            self._log.event("task failure already settled", stream_id=stream_id, run_id=run_id)
            return
        if streams.finish(stream, streams.FAILED, error):
            self._log.event("stream failed", stream_id=stream_id, run_id=run_id, error=error)

    # --- shutdown ---

    def children(self) -> list[int]:
        with self._lock:
            return list(self._children)

    def stop_all(self, grace_s: float = STOP_GRACE_S) -> None:
        """No more retries; SIGTERM every task (it stops its ffmpeg), then kill what is left of each group."""
        self._closing.set()
        with self._lock:
            processes = list(self._children.values())
            runs = list(self._runs)
        for process in processes:
            _signal(process, signal.SIGTERM, group=False)
        for process in processes:
            self._terminate(process, grace_s, already_signalled=True)
        for run in runs:
            run.join(timeout=grace_s)

    def _terminate(
        self, process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S, already_signalled: bool = False
    ) -> None:
        if not already_signalled:
            _signal(process, signal.SIGTERM, group=False)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
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
