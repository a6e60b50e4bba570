"""The pure parts of YouTube: a channel's destination id, what a broadcast is made of, a refresh's error code,
the quota's answer, and the units a start must find left in the day."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from google.auth.exceptions import RefreshError

from playout.models import Stream, YouTubeOptions
from playout.settings import YouTubeSettings
from playout.youtube.api import refresh_error_code
from playout.youtube.broadcasts import END_CALLS, START_CALLS, TASK_CALLS, Broadcasts, units_of, youtube_safe
from playout.youtube.channels import destination_id_of
from playout.youtube.google import GoogleProject
from playout.youtube.quota import YouTubeQuotaExhausted


def test_a_channel_has_one_destination_id_per_user() -> None:
    one = destination_id_of("user-a", "UC123")
    assert one == destination_id_of("user-a", "UC123")
    assert re.fullmatch(r"dst_[0-9a-f]{28}", one)  # what the API's path parameter accepts
    assert one != destination_id_of("user-b", "UC123")
    assert one != destination_id_of("user-a", "UC124")


def test_a_broadcast_is_made_to_start_by_itself_and_end_only_when_told() -> None:
    stream = Stream(
        "USER#u",
        "STREAM#str_1",
        stream_id="str_1",
        title="A <loop>",
        description="first > second",
        privacy="private",
        status="starting",
        scheduled_start=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        youtube=YouTubeOptions(made_for_kids=False, latency_preference="ultraLow", enable_dvr=True),
    )
    body = Broadcasts(GoogleProject(YouTubeSettings()))._broadcast_body(stream)

    assert body["snippet"] == {
        "title": "A \u2039loop\u203a",
        "description": "first \u203a second",
        "scheduledStartTime": "2030-01-02T03:04:05Z",
    }
    assert body["status"] == {"privacyStatus": "private", "selfDeclaredMadeForKids": False}
    details = body["contentDetails"]
    assert (details["enableAutoStart"], details["enableAutoStop"]) == (True, False)
    assert (details["latencyPreference"], details["enableDvr"]) == ("ultraLow", True)
    assert youtube_safe("x" * 200, 100) == "x" * 100


def test_the_units_a_start_must_find_left() -> None:
    # insert + bind (the start), thumbnails.set (the task), list + transition (the end)
    assert units_of(START_CALLS + TASK_CALLS + END_CALLS) == 201


def test_a_refresh_errors_code_is_read_from_either_of_google_auths_shapes() -> None:
    with_data = RefreshError("invalid_grant: Token has been expired or revoked.", {"error": "invalid_grant"})
    assert refresh_error_code(with_data) == "invalid_grant"
    assert refresh_error_code(RefreshError("invalid_grant: Bad Request")) == "invalid_grant"
    assert refresh_error_code(RefreshError("temporarily_unavailable")) == "temporarily_unavailable"


def test_the_quotas_429_says_when_it_resets() -> None:
    error = YouTubeQuotaExhausted("spent", datetime(2030, 3, 2, 8, 0, tzinfo=UTC))
    assert (error.status, error.code) == (429, "youtube_quota_exhausted")
    assert error.details() == {"resets_at": "2030-03-02T08:00:00Z"}
