"""The media job's environment: its own names where the stream task's would mislead it (both run in one image
and local mode passes STREAM_TASK_* through to both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_task.media_job import MediaJobSettings

IDS = {
    "MEDIA_ID": "med_1",
    "USER_ID": "u-1",
    "JOB_ID": "job_1",
    "TABLE_NAME": "table",
    "MEDIA_BUCKET": "bucket",
}


def test_the_stream_engines_ffmpeg_and_staging_disk_are_not_the_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        **IDS,
        "FFMPEG_PATH": "/opt/engine-ffmpeg/bin/ffmpeg",  # the image's ENV: no libx264, no libwebp
        "STREAM_TASK_SCRATCH_DIR": "/small-staging-disk",
        "SCRATCH_DIR": "/small-staging-disk",
    }.items():
        monkeypatch.setenv(name, value)

    settings = MediaJobSettings()  # type: ignore[call-arg]

    assert settings.conform_ffmpeg_path == "ffmpeg"
    assert settings.media_job_scratch_dir != Path("/small-staging-disk")


def test_the_jobs_own_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        **IDS,
        "CONFORM_FFMPEG_PATH": "/usr/bin/ffmpeg",
        "MEDIA_JOB_SCRATCH_DIR": "/big",
    }.items():
        monkeypatch.setenv(name, value)

    settings = MediaJobSettings()  # type: ignore[call-arg]

    assert (settings.conform_ffmpeg_path, settings.media_job_scratch_dir) == ("/usr/bin/ffmpeg", Path("/big"))
    assert settings.allow_loopback_imports is False
