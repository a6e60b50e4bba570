"""Scheduled starts through the API, with moto's EventBridge Scheduler holding the schedules."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest

from playout import schedules
from tests.integration.conftest import ApiClient, RecordingLauncher
from tests.integration.library import Library

GROUP = os.environ["SCHEDULE_GROUP"]


def _schedule(stream_id: str) -> dict:
    return boto3.client("scheduler").get_schedule(Name=stream_id, GroupName=GROUP)


def _no_schedule(stream_id: str) -> bool:
    scheduler = boto3.client("scheduler")
    try:
        scheduler.get_schedule(Name=stream_id, GroupName=GROUP)
    except scheduler.exceptions.ResourceNotFoundException:
        return True
    return False


def _in(**delta: float) -> datetime:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


def _fire(schedule: dict) -> dict:
    """What EventBridge Scheduler does at the schedule's time: invoke the Lambda with the target's input."""
    from scheduled_start.handler import lambda_handler

    return lambda_handler(json.loads(schedule["Target"]["Input"]), _LambdaContext())


class _LambdaContext:
    function_name = "playout-scheduled-start"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:playout-scheduled-start"
    aws_request_id = "scheduled"


def test_a_scheduled_stream_gets_a_one_time_schedule_at_its_prewarm_time(library: Library) -> None:
    at = _in(hours=2)
    local = at.astimezone(timezone(timedelta(hours=-5)))
    stream_id = library.new_stream(scheduled_start=local.isoformat())

    out = library.stream(stream_id)
    assert out["status"] == "scheduled"
    assert datetime.fromisoformat(out["scheduled_start"]) == at
    schedule = _schedule(stream_id)
    fire_at = (at - schedules.PREWARM_LEAD).strftime("%Y-%m-%dT%H:%M:%S")
    assert schedule["ScheduleExpression"] == f"at({fire_at})"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"] == os.environ["SCHEDULED_START_FUNCTION_ARN"]
    assert schedule["Target"]["RoleArn"] == os.environ["SCHEDULER_ROLE_ARN"]
    assert json.loads(schedule["Target"]["Input"]) == {
        "user_id": library.client.user_id,
        "stream_id": stream_id,
        "scheduled_start": at.isoformat(),
    }
    assert library.active_count() == 0


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2031-01-01T10:00:00", "scheduled_start"),  # no offset
        (None, "in the past"),
        ("far", "more than a year ahead"),
    ],
)
def test_a_schedule_must_have_an_offset_be_in_the_future_and_within_a_year(
    alice: ApiClient, library: Library, value: str | None, problem: str
) -> None:
    if value is None:
        value = _in(minutes=-1).isoformat()
    elif value == "far":
        value = _in(days=366).isoformat()
    response = alice.post(
        "/api/streams",
        {
            "title": "t",
            "media_ids": [library.media_id],
            "destination_ids": [library.destination_id],
            "scheduled_start": value,
        },
    )
    assert response.status == 422
    assert problem in response.json()["error"]["message"]


def test_reschedule_moves_the_schedule_and_cancel_makes_a_draft(library: Library) -> None:
    stream_id = library.new_stream(scheduled_start=_in(hours=1).isoformat())
    later = _in(days=3)

    moved = library.client.put(f"/api/streams/{stream_id}/schedule", {"scheduled_start": later.isoformat()})
    assert moved.status == 200
    assert datetime.fromisoformat(moved.json()["scheduled_start"]) == later
    fire_at = (later - schedules.PREWARM_LEAD).strftime("%Y-%m-%dT%H:%M:%S")
    assert _schedule(stream_id)["ScheduleExpression"] == f"at({fire_at})"

    cancelled = library.client.delete(f"/api/streams/{stream_id}/schedule")
    assert cancelled.status == 200
    assert cancelled.json()["status"] == "draft"
    assert cancelled.json()["scheduled_start"] is None
    assert _no_schedule(stream_id)

    assert library.client.delete(f"/api/streams/{stream_id}/schedule").status == 409
    again = library.client.put(f"/api/streams/{stream_id}/schedule", {"scheduled_start": later.isoformat()})
    assert again.status == 409


def test_the_schedule_starts_the_stream_and_keeps_its_time_for_the_task(
    library: Library, aws_env: RecordingLauncher
) -> None:
    at = _in(hours=1)
    stream_id = library.new_stream(scheduled_start=at.isoformat())

    result = _fire(_schedule(stream_id))

    assert result == {"stream_id": stream_id, "status": "starting"}
    out = library.stream(stream_id)
    assert out["status"] == "starting"
    assert datetime.fromisoformat(out["scheduled_start"]) == at  # the task holds its first frame until then
    assert [s[0] for s in aws_env.started] == [stream_id]
    assert library.active_count() == 1


def test_a_schedule_left_from_before_a_reschedule_does_nothing(
    library: Library, aws_env: RecordingLauncher
) -> None:
    stream_id = library.new_stream(scheduled_start=_in(hours=1).isoformat())
    stale = _schedule(stream_id)
    library.client.put(f"/api/streams/{stream_id}/schedule", {"scheduled_start": _in(hours=5).isoformat()})

    assert _fire(stale)["status"] is None
    assert library.stream(stream_id)["status"] == "scheduled"
    assert aws_env.started == []


def test_a_scheduled_start_over_the_limit_fails_the_stream_with_the_reason(library: Library) -> None:
    scheduled = library.new_stream(scheduled_start=_in(hours=1).isoformat())
    schedule = _schedule(scheduled)
    for _ in range(2):
        library.client.post(f"/api/streams/{library.new_stream()}/start")

    assert _fire(schedule)["status"] == "failed"
    out = library.stream(scheduled)
    assert out["error"].startswith("could not start at its scheduled time: 2 streams are already active")
    assert library.active_count() == 2


def test_starting_a_scheduled_stream_by_hand_starts_it_now_and_drops_the_schedule(library: Library) -> None:
    stream_id = library.new_stream(scheduled_start=_in(hours=1).isoformat())
    started = library.client.post(f"/api/streams/{stream_id}/start").json()
    assert started["status"] == "starting"
    assert started["scheduled_start"] is None
    assert _no_schedule(stream_id)


def test_a_start_due_within_the_prewarm_lead_starts_at_once(
    library: Library, aws_env: RecordingLauncher
) -> None:
    at = _in(seconds=60)
    stream_id = library.new_stream(scheduled_start=at.isoformat())
    out = library.stream(stream_id)
    assert out["status"] == "starting"
    assert datetime.fromisoformat(out["scheduled_start"]) == at
    assert _no_schedule(stream_id)
    assert len(aws_env.started) == 1


def test_deleting_a_scheduled_stream_deletes_its_schedule(library: Library) -> None:
    stream_id = library.new_stream(scheduled_start=_in(hours=1).isoformat())
    assert library.client.delete(f"/api/streams/{stream_id}").status == 204
    assert _no_schedule(stream_id)


def test_another_users_schedule_answers_404(library: Library, bob: ApiClient) -> None:
    stream_id = library.new_stream(scheduled_start=_in(hours=1).isoformat())
    assert (
        bob.put(f"/api/streams/{stream_id}/schedule", {"scheduled_start": _in(hours=2).isoformat()}).status
        == 404
    )
    assert bob.delete(f"/api/streams/{stream_id}/schedule").status == 404
    assert library.stream(stream_id)["status"] == "scheduled"
