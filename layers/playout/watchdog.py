"""The watchdog outside the task: settles a run whose task died without writing its status, and stops a task
whose heartbeat went stale so that the workflow resumes the run in a new one.

AWS: a Lambda on ECS task state changes (STOPPED) and on a one-minute sweep. Local mode: the launcher runs
the same sweep over the runs it drives. Active streams come from the sparse `active-streams` index (one
Query, no Scan); every settle is the same conditional transaction as the task's own `finish`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pynamodb.exceptions import UpdateError

from playout.launcher import RunState
from playout.models import HEALTH_PREFIX, Stream, StreamHealthItem, utcnow
from playout.resources import ACTIVE_STREAMS_INDEX_VALUE, ENDED_RUNS_INDEX_VALUE
from playout.streams import ACTIVE, ENDED, FAILED, STOPPING, finish, get_stream, record_event
from playout.workflow import HEARTBEAT_STALE_AFTER_S, LAUNCH_GRACE_S

SETTLED = "settled"
STOPPED_TASK = "stopped_task"

# Ends the YouTube broadcasts of a run that is over (playout.youtube.broadcasts.Broadcasts.end_broadcasts):
# the task does it when it concludes a run; a run whose task died is ended here.
EndBroadcasts = Callable[[str, str, str], object]


class RunInspector(Protocol):
    """What the watchdog asks about a run (AWS: Step Functions and ECS; locally: the launcher)."""

    def run_state(self, run_id: str) -> RunState: ...

    def stop_run_task(self, run_id: str, task_arn: str | None, reason: str) -> None: ...


@dataclass(frozen=True)
class Finding:
    stream_id: str
    run_id: str
    action: str  # SETTLED or STOPPED_TASK
    detail: str


@dataclass(frozen=True)
class Sweep:
    active_streams: int  # the streams it checked (starting, live, stopping)
    findings: list[Finding]

    @property
    def silent_streams(self) -> int:
        """Active streams whose task stopped beating (the sweep stopped it for a new task to resume)."""
        return sum(1 for finding in self.findings if finding.action == STOPPED_TASK)


def sweep(
    inspector: RunInspector, now: datetime | None = None, end_broadcasts: EndBroadcasts | None = None
) -> list[Finding]:
    """Checks every active stream once, then the runs that ended since the last sweep."""
    return sweep_all(inspector, now, end_broadcasts).findings


def sweep_all(
    inspector: RunInspector, now: datetime | None = None, end_broadcasts: EndBroadcasts | None = None
) -> Sweep:
    """`sweep`, with how many streams were active (the watchdog Lambda's metrics)."""
    now = now or utcnow()
    findings = []
    active = 0
    for stream in Stream.active_index.query(ACTIVE_STREAMS_INDEX_VALUE):
        active += 1
        finding = check(stream, inspector, now, end_broadcasts)
        if finding is not None:
            findings.append(finding)
    close_ended_runs(end_broadcasts)
    return Sweep(active, findings)


def close_ended_runs(end_broadcasts: EndBroadcasts | None) -> None:
    """Ends what is still open of the YouTube broadcasts of each ended run (usually nothing: one Query of its
    items), and takes the run out of the ended partition once nothing is left to try again."""
    for stream in Stream.active_index.query(ENDED_RUNS_INDEX_VALUE):
        problems = (
            end_broadcasts(_owner(stream), stream.stream_id, str(stream.run_id)) if end_broadcasts else []
        )
        if problems:
            continue  # left for the next sweep (each end that can succeed later was put back)
        try:
            stream.update(
                actions=[Stream.active_index_pk.remove()],
                condition=(Stream.active_index_pk == ENDED_RUNS_INDEX_VALUE)
                & (Stream.run_id == stream.run_id),
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise  # a new run began meanwhile: it is not this sweep's


def check_run(
    user_id: str,
    stream_id: str,
    run_id: str,
    inspector: RunInspector,
    now: datetime | None = None,
    end_broadcasts: EndBroadcasts | None = None,
) -> Finding | None:
    """Checks one run (a task of it just stopped). A run already over (the workflow settled it) has its
    YouTube broadcasts ended, if its task could not."""
    stream = get_stream(user_id, stream_id, consistent=True)
    if stream.run_id != run_id:
        return None
    if stream.status not in ACTIVE:
        end_if_over(stream, end_broadcasts)
        return None
    return check(stream, inspector, now or utcnow(), end_broadcasts)


def end_if_over(stream: Stream, end_broadcasts: EndBroadcasts | None) -> None:
    """Ends the YouTube broadcasts of the stream's run if the run is over (each one once: the ending is
    claimed on its item, so this is a Query when the task already ended them)."""
    if end_broadcasts is not None and stream.broadcasts and stream.status not in ACTIVE:
        end_broadcasts(_owner(stream), stream.stream_id, str(stream.run_id))


def check(
    stream: Stream, inspector: RunInspector, now: datetime, end_broadcasts: EndBroadcasts | None = None
) -> Finding | None:
    run_id = str(stream.run_id)
    state = inspector.run_state(run_id)
    if state is RunState.ENDED:
        return settle_orphan(
            stream, "the stream task stopped without recording how the stream ended", end_broadcasts
        )
    if state is RunState.MISSING:
        started = stream.started_at
        if started is None or now - started >= timedelta(seconds=LAUNCH_GRACE_S):
            return settle_orphan(stream, "the stream task was never launched", end_broadcasts)
        return None
    beat = _heartbeat(stream)
    if beat is None or beat.run_id != run_id or beat.updated_at is None:
        return None  # the task has not beaten yet (image pull, staging): its workflow is still on it
    silent_s = (now - beat.updated_at).total_seconds()
    if silent_s <= HEARTBEAT_STALE_AFTER_S:
        return None
    detail = f"no heartbeat for {silent_s:.0f} s: the task was stopped and a new one resumes the stream"
    inspector.stop_run_task(run_id, stream.task_arn, detail)
    record_event(_owner(stream), stream.stream_id, "restarted", detail, run_id)
    return Finding(stream.stream_id, run_id, STOPPED_TASK, detail)


def settle_orphan(stream: Stream, reason: str, end_broadcasts: EndBroadcasts | None = None) -> Finding | None:
    """Settles a run that nothing plays any more: a stop that was asked for ends as `ended`, a run that was
    meant to play ends `failed` with `reason`; then its YouTube broadcasts are ended. None if the task or
    the workflow wrote it meanwhile."""
    if stream.status == STOPPING:
        settled, status, detail = finish(stream, ENDED), ENDED, "stopped"
    else:
        settled, status, detail = finish(stream, FAILED, reason), FAILED, reason
    if settled and end_broadcasts is not None:
        # One Query of the run's broadcast items (the sweep's streams come from the index, which does not
        # project `broadcasts`).
        end_broadcasts(_owner(stream), stream.stream_id, str(stream.run_id))
    if not settled:
        return None  # the task or the workflow wrote it meanwhile
    return Finding(stream.stream_id, str(stream.run_id), SETTLED, f"{status}: {detail}")


def _heartbeat(stream: Stream) -> StreamHealthItem | None:
    try:
        return StreamHealthItem.get(
            stream.pk,
            HEALTH_PREFIX + stream.stream_id,
            consistent_read=True,
            attributes_to_get=["run_id", "updated_at"],
        )
    except StreamHealthItem.DoesNotExist:
        return None


def _owner(stream: Stream) -> str:
    return str(stream.pk).removeprefix("USER#")
