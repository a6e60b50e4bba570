"""One ingest per output: its own ffmpeg (FLV in on a pipe, RTMP(S) out), its own state, its own retries.

datarhei/core's shape: the wanted state (send to this ingest) apart from the actual one (connecting, live,
retrying, failed), a reconnect after a delay, statistics per output. The engine hands every tag to every
output without waiting: each output has its own thread and a bounded buffer, so an ingest that is slow,
down, or accepts TCP and never reads, stalls only itself. A pusher that falls further behind than the
buffer allows is restarted from the next keyframe."""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from stream_task.command import INGEST_PROTOCOLS, PIPE_PROTOCOLS, ingest_target
from stream_task.flv import Tag, TagKind, file_header
from stream_task.launch import DIRECT, Launch
from stream_task.process import ChildProcess, Log
from stream_task.progress import ProgressParser

# The first reconnect after a live session is immediate (a dropped connection, a killed pusher: the ingest
# is usually right there); refusals then back off.
RECONNECT_DELAYS_S = (0.0, 1.0, 2.0, 4.0, 8.0, 10.0)
FLUSH_TIMEOUT_S = 2.0  # for a pusher to finish by itself once its input has ended


class OutputState(enum.StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    RETRYING = "retrying"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class OutputStats:
    destination_id: str
    state: OutputState
    reason: str | None
    bytes_sent: int
    connects: int


# Why a destination is retrying or failed, in a few words that fit the health item (the full text, with
# ffmpeg's own lines, goes to the stream's events). First match wins.
_BRIEF_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("not a public", "not on the public"), "address not allowed"),
    (("could not be resolved", "name or service not known", "failed to resolve"), "host not found"),
    (("connection refused",), "connection refused"),
    (("timed out", "timeout"), "timed out"),
    (("stopped taking data",), "not taking data"),
    (("tls", "ssl", "certificate", "handshake"), "TLS failed"),
    (("badname", "server error", "unauthorized", "forbidden", "publish", "rejected"), "stream key refused"),
    (("connection reset", "broken pipe", "end of file", "i/o error"), "connection lost"),
    (("exited with code", "connection ended"), "ingest closed"),
)


def brief_reason(reason: str | None) -> str | None:
    if not reason:
        return None
    text = reason.lower()
    for needles, brief in _BRIEF_REASONS:
        if any(needle in text for needle in needles):
            return brief
    return "error"


def pusher_argv(ffmpeg: str, address: str, preset_path: str) -> list[str]:
    """`address` is the ingest's scheme, host and port; its application and stream key come from the preset
    file at `preset_path` (stream_task.command.IngestTarget), never from the command line."""
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-progress",
        "pipe:1",
        "-stats_period",
        "1",
        "-protocol_whitelist",
        PIPE_PROTOCOLS,
        "-format_whitelist",
        "flv",
        # ffmpeg stops looking after 0.2 s of stream (the engine sends 1 s at once, so this costs no wait);
        # 1 MB lets that 0.2 s hold a 1080p keyframe and the first sound packet after it.
        "-probesize",
        "1048576",
        "-analyzeduration",
        "200000",
        "-f",
        "flv",
        "-i",
        "pipe:0",
        "-map",
        "0",
        "-c",
        "copy",
        "-protocol_whitelist",
        INGEST_PROTOCOLS,
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        "-fpre",
        preset_path,
        address,
    ]


OnChange = Callable[["Output", OutputState, OutputState, str | None], None]


class Output:
    """Sends the stream to one ingest until closed; reconnects by itself for `retry_window_s`."""

    def __init__(
        self,
        destination_id: str,
        url: str,
        *,
        ffmpeg: str,
        redact: Callable[[str], str],
        logger: Log | None = None,
        on_change: OnChange | None = None,
        check_host: Callable[[str], None] | None = None,
        launch: Launch = DIRECT,
        retry_window_s: float = 600.0,
        max_buffer_ms: float = 8000.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.destination_id = destination_id
        self._url = url
        self._ffmpeg = ffmpeg
        self._redact = redact
        self._log: Log = logger or cast(Log, logging.getLogger(__name__))
        self._on_change = on_change
        self._check_host = check_host
        self._launch = launch
        self._retry_window_s = retry_window_s
        self._max_buffer_ms = max_buffer_ms
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[Tag] = deque()
        self._headers: list[Tag] = []
        self._script: Tag | None = None
        self._closing = False
        self._restart_reason: str | None = None
        self._replay: list[Tag] = []  # what the last failed session sent since its last keyframe
        self._tail: list[Tag] = []  # what the session on air still sends before a handover ends it
        self._child: ChildProcess | None = None
        self.state = OutputState.CONNECTING
        self.reason: str | None = None
        self._bytes_done = 0  # of pusher sessions that ended
        self._session_bytes = 0
        self.connects = 0
        self.failed_since: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"output-{destination_id}", daemon=True)
        self._thread.start()

    # --- the engine's side (never blocks) ---

    def send(self, tag: Tag) -> None:
        with self._cond:
            if self.state in (OutputState.FAILED, OutputState.STOPPED):
                return
            if tag.kind is TagKind.SCRIPT:
                self._script = tag
                return
            if tag.is_sequence_header:
                self._headers = [h for h in self._headers if h.kind is not tag.kind] + [tag]
            self._queue.append(tag)
            if self._queue[-1].timestamp_ms - self._queue[0].timestamp_ms > self._max_buffer_ms:
                # The pusher is not taking data: drop what waits and start again from the next keyframe.
                self._queue.clear()
                self._request_restart("the ingest stopped taking data")
            self._cond.notify()

    def handover(self, url: str | None = None) -> None:
        """A planned new connection from the next tag sent, to `url` from then on if given (a YouTube
        broadcast rotated to the channel's other ingest). The engine calls it just before a keyframe: an
        item's first, or one inside a long item. The session on air sends everything sent before, then its
        input ends and ffmpeg closes the connection cleanly; the next session opens with the next tag. Nothing
        is lost or sent twice, and each ingest's part ends or begins exactly at the cut."""
        with self._cond:
            if url is not None:
                self._url = url
            self._tail.extend(self._queue)
            self._queue.clear()
            self._restart_reason = "handover"
            self._cond.notify()

    def stats(self) -> OutputStats:
        with self._cond:
            return OutputStats(
                self.destination_id,
                self.state,
                self.reason,
                self._bytes_done + self._session_bytes,
                self.connects,
            )

    def request_close(self) -> None:
        """Starts closing without waiting (close() waits): several outputs then close at the same time."""
        with self._cond:
            self._closing = True
            self._cond.notify()

    def close(self, grace_s: float = 5.0) -> None:
        """Ends the output. Its own thread sends what waits (the stream's last tags), closes the pusher's
        input (ffmpeg then flushes and closes the RTMP session cleanly) and reaps it. A pusher that takes no
        data (an ingest that hung) leaves that thread blocked writing to the pipe: it is killed after
        `grace_s`, which unblocks the write. The pipe is never closed from here: closing a file another
        thread is writing to waits for that write."""
        self.request_close()
        self._thread.join(timeout=grace_s)
        if self._thread.is_alive():
            child = self._child
            if child is not None:
                self._log.warning(
                    "the ingest took no data while closing; its pusher is killed",
                    extra={"destination_id": self.destination_id},
                )
                child.kill()
            self._thread.join(timeout=5)
        child = self._child
        if child is not None and child.poll() is None:
            child.kill()

    # --- the output's own thread ---

    def _request_restart(self, reason: str) -> None:
        self._restart_reason = reason
        child = self._child
        if child is not None:
            child.kill()

    def _set(self, state: OutputState, reason: str | None = None) -> None:
        with self._cond:
            previous = self.state
            if previous is state and self.reason == reason:
                return
            self.state, self.reason = state, reason
        if self._on_change is not None and previous is not state:
            try:
                self._on_change(self, previous, state, reason)
            except Exception:
                self._log.exception("output state callback failed")

    def _run(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                if self._closing:
                    break
            error = self._session()
            with self._cond:
                closing = self._closing
                planned = self._restart_reason == "handover"
                self._restart_reason = None
            if closing:
                break
            if planned:
                attempt = 0
                continue
            now = self._clock()
            if self.state is OutputState.LIVE or self.failed_since is None:
                self.failed_since = now
                attempt = 0  # it was on air: a new incident, not one more try of the last
            if now - self.failed_since >= self._retry_window_s:
                self._set(OutputState.FAILED, error)
                break
            self._set(OutputState.RETRYING, error)
            delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
            attempt += 1
            with self._cond:
                self._cond.wait_for(lambda: self._closing, timeout=delay)
        with self._cond:
            done = self.state is OutputState.FAILED
        if not done:
            self._set(OutputState.STOPPED)

    def _session(self) -> str:
        """One pusher process from the next keyframe until it fails or the output closes; returns why."""
        with self._cond:
            url = self._url
        if self._check_host is not None:
            try:
                self._check_host(url)
            except Exception as refused:
                return str(getattr(refused, "message", refused))
        try:
            target = ingest_target(url)
            preset = target.preset()
        except ValueError as refused:  # a key ffmpeg could not be given apart from its command line
            return str(refused)
        with self._cond:
            # A reconnect starts again from the last keyframe the ingest got (the picture it lost, at once,
            # rather than a wait for the next keyframe); then from a keyframe in any case.
            if self._restart_reason == "handover":  # asked between sessions: there was nothing to end
                self._restart_reason = None
            self._queue.extendleft(reversed(self._tail + self._replay))
            self._replay, self._tail = [], []
            while self._queue and not (self._queue[0].is_keyframe and not self._queue[0].is_sequence_header):
                self._queue.popleft()
        child = self._start_pusher(target.address, preset)
        with self._cond:
            self._child = child
            self.connects += 1
            self._session_bytes = 0
        if self.state is not OutputState.RETRYING:
            self._set(OutputState.CONNECTING, None)
        progress = threading.Thread(target=self._read_progress, args=(child,), daemon=True)
        progress.start()
        error = self._feed(child)
        with self._cond:
            ended_input = self._closing or self._restart_reason == "handover"
        if ended_input:
            # Its input has ended: ffmpeg sends what it has, closes the session and exits by itself.
            # SIGINT at once would make it drop what it had not read yet (the stream's last tags).
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(FLUSH_TIMEOUT_S)
        code = child.wait() if child.poll() is not None else child.stop(2.0)
        progress.join(timeout=2)
        with self._cond:
            self._bytes_done += self._session_bytes
            self._session_bytes = 0
            self._child = None
            restart = self._restart_reason
        if restart is not None and restart != "handover":
            return restart
        return error or child.reason(f"the ingest connection ended (ffmpeg exited with code {code})")

    def _start_pusher(self, address: str, preset: bytes) -> ChildProcess:
        """The ingest's application and key travel on a pipe that ffmpeg reads once as its preset file: the
        command line, which any process may read, holds the ingest's address only."""
        reader, writer = os.pipe()
        try:
            # ffmpeg, under its own uid, opens the pipe again through /dev/fd: the mode lets it. Only a
            # process that may look into this one's or ffmpeg's /proc/<pid>/fd can reach an unnamed pipe.
            os.fchmod(reader, 0o444)
            os.write(writer, preset)  # a few hundred bytes: within the pipe's buffer, so this never blocks
            os.close(writer)
            writer = -1
            return ChildProcess(
                pusher_argv(self._ffmpeg, address, f"/dev/fd/{reader}"),
                name=f"output {self.destination_id}",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                redact=self._redact,
                logger=self._log,
                launch=self._launch,
                pass_fds=(reader,),
            )
        finally:
            os.close(reader)
            if writer >= 0:
                os.close(writer)

    def _feed(self, child: ChildProcess) -> str | None:
        stdin = child.stdin
        assert stdin is not None
        base: int | None = None
        gop: list[Tag] = []
        try:
            stdin.write(file_header())
            while True:
                with self._cond:
                    self._cond.wait_for(
                        lambda: self._queue or self._closing or self._restart_reason is not None, timeout=1.0
                    )
                    handing_over = self._restart_reason == "handover"
                    if (self._restart_reason is not None and not handing_over) or (
                        self._closing and not self._queue
                    ):
                        break
                    if child.poll() is not None:
                        return None
                    if handing_over:
                        batch, self._tail = self._tail, []
                    else:
                        batch = list(self._queue)
                        self._queue.clear()
                    headers, script = list(self._headers), self._script
                for tag in batch:
                    if base is None:
                        if not (tag.is_keyframe and not tag.is_sequence_header):
                            continue
                        base = tag.timestamp_ms
                        if script is not None:
                            stdin.write(script.at(0).encode())
                        for header in headers:
                            stdin.write(header.at(0).encode())
                    if tag.timestamp_ms < base:
                        continue
                    stdin.write(tag.at(tag.timestamp_ms - base).encode())
                    if tag.is_video and tag.is_keyframe and not tag.is_sequence_header:
                        gop = [tag]
                    elif gop and not tag.is_sequence_header:
                        gop.append(tag)
                stdin.flush()
                self._maybe_live(child)
                if handing_over:
                    break
        except (BrokenPipeError, ValueError, OSError):
            return None
        finally:
            with self._cond:
                # Only a session that was on air (the ingest had it, then lost it) is picked up where it
                # was: one that never got through (refused) may have swallowed what followed, and
                # replaying its GOP would then put a jump into the stream; the next starts at a keyframe.
                # A handover ends its session cleanly: nothing to pick up.
                dropped = self.state is OutputState.LIVE and not self._closing
                self._replay = gop if dropped and self._restart_reason != "handover" else []
            with contextlib.suppress(OSError):
                stdin.close()
        return None

    def _maybe_live(self, child: ChildProcess) -> None:
        if self.state is OutputState.LIVE:
            return
        with self._cond:
            sent = self._session_bytes
        if sent > 0 and child.poll() is None:
            self.failed_since = None
            self._set(OutputState.LIVE, None)

    def _read_progress(self, child: ChildProcess) -> None:
        stdout = child.stdout
        if stdout is None:
            return
        parser = ProgressParser()
        with stdout:
            for raw in iter(stdout.readline, b""):
                progress = parser.feed(raw.decode("ascii", errors="replace"))
                if progress is not None and progress.total_size is not None:
                    with self._cond:
                        self._session_bytes = max(self._session_bytes, progress.total_size)
