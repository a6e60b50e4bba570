"""The task's environment, validated once at start: ids of the run (nothing secret) and the tuning knobs.

Each knob also answers to a `STREAM_TASK_` prefix (e.g. STREAM_TASK_STOP_GRACE_S), which local mode passes
through to the task process."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from playout.health import MIN_BEAT_INTERVAL_S, ON_DEMAND, SPOT


def _knob(name: str, **kwargs: Any) -> Any:
    return Field(validation_alias=AliasChoices(name, f"STREAM_TASK_{name}", name.lower()), **kwargs)


class TaskSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    stream_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    table_name: str = Field(min_length=3)
    media_bucket: str = Field(min_length=3)
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
    # Debian's full ffmpeg, for pictures (a YouTube broadcast's thumbnail); the engine's build has no decoders
    # for them.
    picture_ffmpeg_path: str = _knob("PICTURE_FFMPEG_PATH", default="ffmpeg")
    # "auto" picks path-style addressing for a custom endpoint (local mode) and virtual hosts on AWS.
    s3_addressing_style: str = _knob("S3_ADDRESSING_STYLE", default="auto", pattern="^(virtual|path|auto)$")
    # Admits 127.0.0.0/8 and ::1 as ingests (local mode's RTMP server); AWS never sets it.
    allow_loopback_ingests: bool = _knob("ALLOW_LOOPBACK_INGESTS", default=False)
