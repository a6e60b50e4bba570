"""The rotation policy of YouTube broadcasts, and what a 24/7 stream costs a day (docs/contracts.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from playout.youtube.lasting import BROADCAST_MAX_S, LastingPolicy
from playout.youtube.quota import COST_UNITS, YouTubeCall
from playout.youtube.rotation import daily_units, rotation_units
from stream_task.settings import TaskSettings
from tests.unit.stream_task.test_settings import RUN


def test_a_broadcast_is_rotated_before_youtubes_archive_limit() -> None:
    policy = LastingPolicy()
    assert BROADCAST_MAX_S == 11 * 3600 + 55 * 60  # YouTube keeps at most 11 h 55 min of a broadcast
    assert policy.rotate_from_s == 10 * 3600 + 55 * 60  # at an item boundary from then on
    assert policy.rotate_by_s == 11 * 3600 + 50 * 60  # at a keyframe, inside an item, from then on
    with pytest.raises(ValueError, match="margin_s < window_s"):
        LastingPolicy(broadcast_max_s=30, window_s=40, margin_s=5)
    with pytest.raises(ValueError, match="margin_s < window_s"):
        LastingPolicy(broadcast_max_s=30, window_s=10, margin_s=10)


def test_the_daily_units_of_a_24_7_stream_on_one_channel() -> None:
    units = daily_units()
    assert units.polls == 1440  # a liveBroadcasts.list a minute
    assert units.rotations == 3  # a broadcast lasts at least 10 h 55 min: at most 3 rotations a day
    assert (
        rotation_units(LastingPolicy())
        == units.per_rotation
        == sum(
            COST_UNITS[call]
            for call in (
                YouTubeCall.BROADCASTS_INSERT,
                YouTubeCall.BROADCASTS_BIND,
                YouTubeCall.THUMBNAILS_SET,
                YouTubeCall.BROADCASTS_LIST,  # the old part's, before its transition
                YouTubeCall.BROADCASTS_TRANSITION,
            )
        )
        + 30 * COST_UNITS[YouTubeCall.BROADCASTS_LIST]
    )  # at most 30 polls (150 s) while the new part goes live
    assert units.total == 2133  # of the project's 10,000 a day
    slower = daily_units(LastingPolicy(poll_interval_s=300))
    assert slower.total == 288 + 3 * 231


def test_the_task_takes_the_rotation_clock_from_its_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in RUN.items():
        monkeypatch.setenv(name, value)
    assert TaskSettings().lasting_policy == LastingPolicy()  # type: ignore[call-arg]
    for name, value in {"MAX_S": "25", "ROTATION_WINDOW_S": "12", "ROTATION_MARGIN_S": "3"}.items():
        monkeypatch.setenv(f"STREAM_TASK_BROADCAST_{name}", value)
    monkeypatch.setenv("STREAM_TASK_BROADCAST_POLL_INTERVAL_S", "2")
    policy = TaskSettings().lasting_policy  # type: ignore[call-arg]
    assert (policy.poll_interval_s, policy.rotate_from_s, policy.rotate_by_s) == (2, 13, 22)
    monkeypatch.setenv("STREAM_TASK_BROADCAST_ROTATION_WINDOW_S", "30")
    with pytest.raises(ValidationError, match="margin_s < window_s"):
        TaskSettings()  # type: ignore[call-arg]
    monkeypatch.setenv("STREAM_TASK_BROADCAST_MAX_S", str(12 * 3600))  # past YouTube's archive limit
    with pytest.raises(ValidationError):
        TaskSettings()  # type: ignore[call-arg]
