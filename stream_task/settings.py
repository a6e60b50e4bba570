"""The task's environment, validated once at start: ids of the run (nothing secret) and the tuning knobs.

Each knob also answers to a `STREAM_TASK_` prefix (e.g. STREAM_TASK_STOP_GRACE_S), which local mode passes
through to the task process."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from playout.health import MIN_BEAT_INTERVAL_S, ON_DEMAND, SPOT
from playout.metrics import LOCAL_STAGE, STAGE_ENV, STAGE_PATTERN
from playout.youtube.lasting import (
    BROADCAST_MAX_S,
    LIVE_POLL_S,
    LIVE_WAIT_S,
    POLL_INTERVAL_S,
    ROTATION_MARGIN_S,
    ROTATION_WINDOW_S,
    LastingPolicy,
)


def _knob(name: str, **kwargs: Any) -> Any:
    return Field(validation_alias=AliasChoices(name, f"STREAM_TASK_{name}", name.lower()), **kwargs)


class TaskSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    stream_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    table_name: str = Field(min_length=3)
    media_bucket: str = Field(min_length=3)
    # The stage the task's metrics are published for (their one dimension); the stack sets it.
    stage: str = _knob(STAGE_ENV, default=LOCAL_STAGE, pattern=STAGE_PATTERN)
    scratch_dir: Path = _knob("SCRATCH_DIR", default_factory=lambda: Path(tempfile.gettempdir()))
    # At most one health write per 5 s: the cost of health per stream-hour (playout.health).
    heartbeat_interval_s: float = _knob(
        "HEARTBEAT_INTERVAL_S", default=MIN_BEAT_INTERVAL_S, ge=MIN_BEAT_INTERVAL_S
    )
    stale_progress_timeout_s: float = _knob("STALE_PROGRESS_TIMEOUT_S", default=10.0, gt=0)
    # What a pusher gets to send its last tags at a stop, then it is killed: a healthy ingest takes them in
    # milliseconds, and one that has stopped reading must not hold the stop (ended within 5 s).
    stop_grace_s: float = _knob("STOP_GRACE_S", default=2.0, ge=0)
    # How long an ingest that refuses or drops the connection is retried before that destination fails.
    destination_retry_window_s: float = _knob("DESTINATION_RETRY_WINDOW_S", default=600.0, gt=0)
    # How long the writes that end a run are retried before the task exits non-zero for the workflow to write
    # them; well inside ECS's 120 s stop timeout.
    final_write_deadline_s: float = _knob("FINAL_WRITE_DEADLINE_S", default=60.0, gt=0, le=90)
    # Which Fargate capacity runs the task (the workflow's RunOnSpot / RunOnDemand), for the cost meter.
    capacity: str = _knob("CAPACITY", default=ON_DEMAND, pattern=f"^({SPOT}|{ON_DEMAND})$")
    ffmpeg_path: str = _knob("FFMPEG_PATH", default="ffmpeg")
    ffprobe_path: str = _knob("FFPROBE_PATH", default="ffprobe")
    # ffmpeg and ffprobe run as this user when the task can switch (stream_task.launch): root, or through
    # FFMPEG_LAUNCHER (the image's setpriv with cap_setuid/cap_setgid).
    ffmpeg_user: str = _knob("FFMPEG_USER", default="nobody")
    ffmpeg_launcher: str | None = _knob("FFMPEG_LAUNCHER", default=None)
    # The ffmpeg that pushes to an ingest holds its key: it runs as this user, apart from the ones that read
    # what users upload (stream_task.launch.pushers_apart); unset, as they do.
    ffmpeg_pusher_user: str | None = _knob("FFMPEG_PUSHER_USER", default=None)
    # Debian's full ffmpeg, for pictures (a YouTube broadcast's thumbnail); the engine's build has no decoders
    # for them.
    picture_ffmpeg_path: str = _knob("PICTURE_FFMPEG_PATH", default="ffmpeg")
    # "auto" picks path-style addressing for a custom endpoint (local mode) and virtual hosts on AWS.
    s3_addressing_style: str = _knob("S3_ADDRESSING_STYLE", default="auto", pattern="^(virtual|path|auto)$")
    # Admits 127.0.0.0/8 and ::1 as ingests (local mode's RTMP server); AWS never sets it.
    allow_loopback_ingests: bool = _knob("ALLOW_LOOPBACK_INGESTS", default=False)
    # A run's YouTube broadcasts (playout.youtube.rotation): each asked about every BROADCAST_POLL_INTERVAL_S
    # (1 unit), and rotated before BROADCAST_MAX_S on air (YouTube archives only broadcasts under 12 hours):
    # at an item boundary from MAX - WINDOW on, at a keyframe from MAX - MARGIN on. Tests shorten the clock.
    broadcast_poll_interval_s: float = _knob("BROADCAST_POLL_INTERVAL_S", default=POLL_INTERVAL_S, ge=1)
    broadcast_max_s: float = _knob("BROADCAST_MAX_S", default=BROADCAST_MAX_S, gt=0, le=BROADCAST_MAX_S)
    broadcast_rotation_window_s: float = _knob("BROADCAST_ROTATION_WINDOW_S", default=ROTATION_WINDOW_S, gt=0)
    broadcast_rotation_margin_s: float = _knob("BROADCAST_ROTATION_MARGIN_S", default=ROTATION_MARGIN_S, gt=0)
    broadcast_live_wait_s: float = _knob("BROADCAST_LIVE_WAIT_S", default=LIVE_WAIT_S, gt=0)
    broadcast_live_poll_s: float = _knob("BROADCAST_LIVE_POLL_S", default=LIVE_POLL_S, gt=0)

    @model_validator(mode="after")
    def _rotation_fits(self) -> TaskSettings:
        self.lasting_policy  # noqa: B018  (raises ValueError: margin < window < max)
        return self

    @property
    def lasting_policy(self) -> LastingPolicy:
        return LastingPolicy(
            poll_interval_s=self.broadcast_poll_interval_s,
            broadcast_max_s=self.broadcast_max_s,
            window_s=self.broadcast_rotation_window_s,
            margin_s=self.broadcast_rotation_margin_s,
            live_wait_s=self.broadcast_live_wait_s,
            live_poll_s=self.broadcast_live_poll_s,
        )
