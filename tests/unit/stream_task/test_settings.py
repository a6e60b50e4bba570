"""The task's environment contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stream_task.settings import TaskSettings

RUN = {
    "STREAM_ID": "str_1",
    "USER_ID": "u",
    "RUN_ID": "run_1",
    "TABLE_NAME": "table",
    "MEDIA_BUCKET": "bucket",
}


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in RUN.items():
        monkeypatch.setenv(name, value)
    settings = TaskSettings()  # type: ignore[call-arg]
    assert (settings.stream_id, settings.user_id, settings.run_id) == ("str_1", "u", "run_1")
    assert (settings.heartbeat_interval_s, settings.stale_progress_timeout_s, settings.stop_grace_s) == (
        5,
        10,
        2,
    )
    assert settings.destination_retry_window_s == 600
    assert (settings.ffmpeg_path, settings.s3_addressing_style) == ("ffmpeg", "auto")
    assert settings.scratch_dir.is_dir()


def test_knobs_answer_to_their_name_and_to_the_stream_task_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in RUN.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STOP_GRACE_S", "1.5")
    monkeypatch.setenv("STREAM_TASK_HEARTBEAT_INTERVAL_S", "7.5")
    monkeypatch.setenv("FFMPEG_PATH", "/opt/ffmpeg")
    monkeypatch.setenv("SCRATCH_DIR", "/scratch")
    settings = TaskSettings()  # type: ignore[call-arg]
    assert (settings.stop_grace_s, settings.heartbeat_interval_s) == (1.5, 7.5)
    assert (settings.ffmpeg_path, settings.scratch_dir) == ("/opt/ffmpeg", Path("/scratch"))


def test_keyword_arguments_by_field_name() -> None:
    settings = TaskSettings(**{k.lower(): v for k, v in RUN.items()}, heartbeat_interval_s=6)  # type: ignore[arg-type]
    assert settings.heartbeat_interval_s == 6


def test_health_is_never_written_more_often_than_every_5_s() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        TaskSettings(**{k.lower(): v for k, v in RUN.items()}, heartbeat_interval_s=2)  # type: ignore[arg-type]


def test_capacity_is_spot_or_on_demand(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in RUN.items():
        monkeypatch.setenv(name, value)
    assert TaskSettings().capacity == "on_demand"  # type: ignore[call-arg]
    monkeypatch.setenv("CAPACITY", "spot")
    assert TaskSettings().capacity == "spot"  # type: ignore[call-arg]
    monkeypatch.setenv("CAPACITY", "ec2")
    with pytest.raises(ValidationError):
        TaskSettings()  # type: ignore[call-arg]


def test_loopback_ingests_are_refused_unless_local_mode_allows_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in RUN.items():
        monkeypatch.setenv(name, value)
    assert TaskSettings().allow_loopback_ingests is False  # type: ignore[call-arg]
    monkeypatch.setenv("ALLOW_LOOPBACK_INGESTS", "true")
    assert TaskSettings().allow_loopback_ingests is True  # type: ignore[call-arg]
    monkeypatch.delenv("ALLOW_LOOPBACK_INGESTS")
    monkeypatch.setenv("STREAM_TASK_ALLOW_LOOPBACK_INGESTS", "1")
    assert TaskSettings().allow_loopback_ingests is True  # type: ignore[call-arg]
