"""Scheduled starts: one timer per scheduled stream that starts it `PREWARM_LEAD` before its time.

AWS: an EventBridge Scheduler one-time schedule (`at(...)`, deleted after it fires) per stream, named by the
stream id, targeting the scheduled-start Lambda. Local mode installs its own scheduler (local/scheduler.py)
that fires the same `streams.start_scheduled_stream` at the same `fire_time`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from playout import aws
from playout.errors import InvalidInput

# The task is up, has staged its first item and holds its first frame until `scheduled_start`.
PREWARM_LEAD: Final = timedelta(seconds=90)
MAX_AHEAD: Final = timedelta(days=365)
# A schedule due sooner than this is not created: the stream starts at once (and waits for its time).
MIN_SCHEDULE_LEAD: Final = timedelta(seconds=5)


def fire_time(scheduled_start: datetime) -> datetime:
    return scheduled_start - PREWARM_LEAD


def due_now(scheduled_start: datetime, now: datetime) -> bool:
    """True when the pre-warm should already have begun: start at once instead of scheduling."""
    return fire_time(scheduled_start) <= now + MIN_SCHEDULE_LEAD


def checked_start(scheduled_start: datetime, now: datetime) -> datetime:
    """`scheduled_start` in UTC if it is in the future and at most a year ahead, else InvalidInput."""
    if scheduled_start.tzinfo is None or scheduled_start.utcoffset() is None:
        raise InvalidInput("scheduled_start needs a UTC offset, e.g. 2030-01-01T20:00:00+01:00")
    at = scheduled_start.astimezone(UTC)
    if at <= now:
        raise InvalidInput("scheduled_start is in the past")
    if at > now + MAX_AHEAD:
        raise InvalidInput("scheduled_start is more than a year ahead")
    return at


@dataclass(frozen=True)
class ScheduledStart:
    """What a schedule carries to the start it triggers (no secret: ids and the time it was set for)."""

    user_id: str
    stream_id: str
    scheduled_start: datetime

    def to_json(self) -> str:
        return json.dumps(
            {
                "user_id": self.user_id,
                "stream_id": self.stream_id,
                "scheduled_start": self.scheduled_start.astimezone(UTC).isoformat(),
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> ScheduledStart:
        return cls(
            user_id=data["user_id"],
            stream_id=data["stream_id"],
            scheduled_start=datetime.fromisoformat(data["scheduled_start"]),
        )


class StartScheduler(Protocol):
    def put(self, start: ScheduledStart) -> None:
        """Create or move the stream's schedule to `fire_time(start.scheduled_start)`."""

    def delete(self, stream_id: str) -> None:
        """Remove the stream's schedule; no error if there is none."""


@dataclass(frozen=True)
class EventBridgeScheduler:
    group_name: str
    target_arn: str  # the scheduled-start Lambda
    role_arn: str  # the role EventBridge Scheduler assumes to invoke it

    def put(self, start: ScheduledStart) -> None:
        scheduler = aws.client("scheduler")
        at = fire_time(start.scheduled_start).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        request = {
            "Name": start.stream_id,
            "GroupName": self.group_name,
            "ScheduleExpression": f"at({at})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": start.to_json(),
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 300},
            },
        }
        try:
            scheduler.create_schedule(**request)
        except scheduler.exceptions.ConflictException:  # one already exists: this is a reschedule
            scheduler.update_schedule(**request)

    def delete(self, stream_id: str) -> None:
        scheduler = aws.client("scheduler")
        with contextlib.suppress(scheduler.exceptions.ResourceNotFoundException):
            scheduler.delete_schedule(Name=stream_id, GroupName=self.group_name)


class _Unconfigured:
    def put(self, start: ScheduledStart) -> None:
        raise RuntimeError("no scheduler is configured (SCHEDULE_GROUP is not set)")

    def delete(self, stream_id: str) -> None:
        return None


_scheduler: StartScheduler | None = None


def get_scheduler() -> StartScheduler:
    global _scheduler
    if _scheduler is None:
        from playout.settings import get_settings

        settings = get_settings()
        if settings.schedule_group:
            _scheduler = EventBridgeScheduler(
                settings.schedule_group, settings.scheduled_start_function_arn, settings.scheduler_role_arn
            )
        else:
            _scheduler = _Unconfigured()
    return _scheduler


def set_scheduler(scheduler: StartScheduler | None) -> None:
    """Local mode and tests install theirs; None goes back to the one the settings describe."""
    global _scheduler
    _scheduler = scheduler
