"""The supervisor around a fake ffmpeg (tests/unit/stream_task/fake_ffmpeg.py): no sockets, no real media."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from stream_task.progress import Progress
from stream_task.supervisor import Cause, Limits, Outcome, State, Supervisor

FAKE = [sys.executable, str(Path(__file__).with_name("fake_ffmpeg.py"))]
FAST = Limits(heartbeat_interval_s=0.05, stale_progress_timeout_s=10, stop_grace_s=10)


def fake(*args: str) -> list[str]:
    return [*FAKE, *args]


def gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_playlist_that_ends_exits_cleanly_after_going_live_once() -> None:
    lives: list[Progress] = []
    seen: list[Progress] = []
    supervisor = Supervisor(FAST, on_live=lives.append, on_progress=seen.append)
    outcome = supervisor.run(fake("--blocks", "5"))
    assert outcome.cause is Cause.EXITED
    assert outcome.succeeded
    assert len(lives) == 1
    assert lives[0].playing
    assert len(seen) == 5
    assert outcome.last_progress is not None
    assert outcome.last_progress.ended
    assert outcome.went_live
    assert supervisor.state is State.FINISHED


def test_heartbeats_carry_the_latest_progress_and_can_stop_ffmpeg() -> None:
    beats: list[Progress | None] = []

    def on_heartbeat(progress: Progress | None) -> bool:
        if progress is not None:  # the fake has set up its SIGINT handler once it prints
            beats.append(progress)
        return len(beats) < 3

    supervisor = Supervisor(FAST, on_heartbeat=on_heartbeat)
    outcome = supervisor.run(fake("--blocks", "-1"))
    assert outcome.cause is Cause.STOPPED
    assert outcome.stop_reason == "heartbeat"
    assert len(beats) == 3
    assert outcome.returncode == 255  # ffmpeg's answer to SIGINT
    assert "Exiting normally, received signal 2." in outcome.stderr_tail
    assert gone(supervisor.pid)


def test_a_stop_request_interrupts_ffmpeg_with_sigint() -> None:
    def stop_once_media_flows(_progress: Progress) -> None:
        supervisor.request_stop("interrupted")

    supervisor = Supervisor(FAST, on_live=stop_once_media_flows)
    outcome = supervisor.run(fake("--blocks", "-1"))
    assert (outcome.cause, outcome.stop_reason, outcome.returncode) == (Cause.STOPPED, "interrupted", 255)
    assert outcome.last_progress is not None
    assert outcome.last_progress.ended


def test_ffmpeg_ignoring_sigint_is_killed_after_the_grace_period() -> None:
    # Stop once it prints: the fake has then set SIGINT aside.
    supervisor = Supervisor(Limits(0.05, 10, stop_grace_s=0.1), on_heartbeat=lambda p: p is None)
    outcome = supervisor.run(fake("--blocks", "-1", "--ignore-sigint"))
    assert outcome.cause is Cause.STOPPED
    assert outcome.returncode == -9
    assert gone(supervisor.pid)


def test_the_watchdog_kills_an_ffmpeg_that_stopped_making_progress() -> None:
    supervisor = Supervisor(Limits(0.05, stale_progress_timeout_s=1.0, stop_grace_s=10))
    outcome = supervisor.run(
        fake("--blocks", "2", "--stall", "--stderr", "[rtmp @ 0x1] Connection timed out")
    )
    assert outcome.cause is Cause.STALE
    assert outcome.returncode == -9
    assert not outcome.succeeded
    assert outcome.failure_reason().startswith("ffmpeg made no progress and was stopped: ")
    assert "Connection timed out" in outcome.failure_reason()


def test_a_failing_ffmpeg_keeps_the_head_and_tail_of_stderr_redacted() -> None:
    key = "live-key-123"
    first = [f"[flv @ 0x55] warning {i} for rtmp://h/app/{key}" for i in range(30)]
    last = [
        f"[tee @ 0x55] Slave '[f=flv:onfail=ignore]rtmp://h/app/{key}': error opening: Connection refused",
        "[tee @ 0x55] All tee outputs failed.",
        "Error initializing output stream 0:1 -- ",
    ]
    argv = fake("--blocks", "1", "--exit", "1", *[a for line in first for a in ("--stderr", line)],
                *[a for line in last for a in ("--final", line)])  # fmt: skip
    outcome = Supervisor(FAST, redact=lambda text: text.replace(key, "****")).run(argv)
    assert (outcome.cause, outcome.returncode, outcome.succeeded) == (Cause.EXITED, 1, False)
    assert len(outcome.stderr_head) == 20
    assert len(outcome.stderr_tail) == 20
    assert outcome.stderr_head[0] == "[flv @ 0x55] warning 0 for rtmp://h/app/****"
    assert outcome.stderr_tail[-1] == "Error initializing output stream 0:1 -- "
    reason = outcome.failure_reason()
    assert reason.startswith("ffmpeg exited with code 1: ")
    assert "All tee outputs failed." in reason
    assert "rtmp://h/app/****" in reason
    assert key not in reason + "".join(outcome.stderr_head + outcome.stderr_tail)


def test_stderr_lines_are_logged_through_the_redaction(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test-supervisor")
    with caplog.at_level(logging.INFO, logger="test-supervisor"):
        Supervisor(FAST, redact=lambda t: t.replace("sekret", "****"), logger=logger).run(
            fake("--blocks", "1", "--stderr", "opening rtmp://h/sekret")
        )
    assert "ffmpeg: opening rtmp://h/****" in caplog.messages
    assert "sekret" not in caplog.text


def test_a_failing_heartbeat_does_not_stop_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    def on_heartbeat(_progress: Progress | None) -> bool:
        raise ConnectionError("DynamoDB unreachable")

    outcome = Supervisor(FAST, on_heartbeat=on_heartbeat).run(fake("--blocks", "5", "--interval", "0.05"))
    assert outcome.succeeded
    assert "supervisor callback failed" in caplog.messages


def test_a_stop_requested_before_the_start_never_spawns_ffmpeg() -> None:
    supervisor = Supervisor(FAST)
    supervisor.request_stop("interrupted")
    supervisor.request_stop("heartbeat")  # the first reason wins
    outcome = supervisor.run(fake("--blocks", "-1"))
    assert outcome == Outcome(Cause.STOPPED, stop_reason="interrupted")
    assert supervisor.pid is None


def test_an_ffmpeg_that_cannot_start_is_a_failure(tmp_path: Path) -> None:
    outcome = Supervisor(FAST).run([str(tmp_path / "ffmpeg"), "-i", "x"])
    assert outcome.cause is Cause.SPAWN_FAILED
    assert (
        outcome.failure_reason()
        == "ffmpeg could not be started: FileNotFoundError: No such file or directory"
    )
