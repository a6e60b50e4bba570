"""The stream control plane as a user (and an operator) would notice it: the active-stream limit under
parallel starts, a launch that fails, stop, the watchdog outside the task, and writes that must not lie."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import TransactWriteError, UpdateError

from playout import streams, watchdog
from playout.errors import TooManyRequests
from playout.launcher import RunState, StepFunctionsLauncher
from playout.metrics import MetricsBatch
from playout.models import HEALTH_PREFIX, PROFILE_SK, Stream, StreamHealthItem, UserProfile, user_pk, utcnow
from playout.resources import ACTIVE_STREAMS_INDEX_VALUE
from playout.settings import YouTubeSettings
from playout.youtube.google import GoogleProject
from playout.youtube.quota import YouTubeCall
from tests.integration.conftest import RecordingLauncher
from tests.integration.dynamo_faults import atomic_requests, throttled
from tests.integration.library import Library


def _stream(library: Library, stream_id: str) -> Stream:
    return streams.get_stream(str(library.client.user_id), stream_id, consistent=True)


# --- the active-stream limit ---


def test_parallel_starts_of_different_streams_never_exceed_the_limit(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = str(library.client.user_id)
    ids = [library.new_stream() for _ in range(8)]
    barrier = threading.Barrier(len(ids))
    outcomes: dict[str, str] = {}

    def start(stream_id: str) -> None:
        barrier.wait()
        try:
            outcomes[stream_id] = str(streams.start_stream(user_id, stream_id).stream.status)
        except TooManyRequests:
            outcomes[stream_id] = "429"

    with atomic_requests(monkeypatch):
        threads = [threading.Thread(target=start, args=(stream_id,)) for stream_id in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert sorted(outcomes.values()) == ["429"] * 6 + ["starting"] * 2
    assert len(streams.active_streams(user_id)) == 2
    assert library.active_count() == 2
    for stream_id, outcome in outcomes.items():
        assert library.stream(stream_id)["status"] == ("draft" if outcome == "429" else "starting")


def test_parallel_starts_of_one_stream_launch_one_task_and_count_once(
    library: Library, aws_env: RecordingLauncher, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = str(library.client.user_id)
    stream_id = library.new_stream()
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        streams.start_stream(user_id, stream_id)

    with atomic_requests(monkeypatch):
        threads = [threading.Thread(target=start) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert len(aws_env.started) == 1
    assert library.active_count() == 1


def test_a_finished_stream_gives_its_slot_back(library: Library) -> None:
    first, second, third = (library.new_stream() for _ in range(3))
    for stream_id in (first, second):
        assert library.client.post(f"/api/streams/{stream_id}/start").status == 202
    assert library.client.post(f"/api/streams/{third}/start").status == 429

    assert streams.finish(_stream(library, first), streams.ENDED) is True
    assert library.active_count() == 1
    assert library.client.post(f"/api/streams/{third}/start").json()["status"] == "starting"
    assert library.active_count() == 2
    assert streams.finish(_stream(library, first), streams.ENDED) is False  # already ended: counted once
    assert library.active_count() == 2


# --- the task's writes: only a failed condition means "not this run any more" ---


def test_finish_is_false_only_for_a_superseded_run(library: Library) -> None:
    stream_id = library.new_stream()
    library.client.post(f"/api/streams/{stream_id}/start")
    old_run = _stream(library, stream_id)
    streams.finish(old_run, streams.FAILED, "boom")
    library.client.post(f"/api/streams/{stream_id}/start")  # a new run of the same stream

    assert streams.finish(old_run, streams.ENDED) is False
    assert library.stream(stream_id)["status"] == "starting"
    assert library.active_count() == 1


def test_finish_raises_on_a_throttle_and_changes_nothing(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream_id = library.new_stream()
    library.client.post(f"/api/streams/{stream_id}/start")
    run = _stream(library, stream_id)
    with throttled(monkeypatch, "TransactWriteItems"), pytest.raises(TransactWriteError) as raised:
        streams.finish(run, streams.ENDED)
    assert raised.value.cause_response_code == "ThrottlingException"
    assert library.stream(stream_id)["status"] == "starting"
    assert library.active_count() == 1
    assert streams.finish(run, streams.ENDED) is True  # the retry the task makes goes through
    assert library.active_count() == 0


def test_mark_live_is_false_only_for_a_superseded_run_and_raises_on_a_throttle(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream_id = library.new_stream()
    library.client.post(f"/api/streams/{stream_id}/start")
    run = _stream(library, stream_id)
    with throttled(monkeypatch, "UpdateItem"), pytest.raises(UpdateError) as raised:
        streams.mark_live(run)
    assert raised.value.cause_response_code == "ThrottlingException"
    assert streams.mark_live(run) is True
    assert library.stream(stream_id)["status"] == "live"
    assert streams.mark_live(run) is False  # no longer starting


# --- a launch that fails ---


def test_a_launch_that_fails_fails_the_stream_with_the_reason_and_frees_the_slot(
    library: Library, aws_env: RecordingLauncher
) -> None:
    stream_id = library.new_stream()
    aws_env.fail_with = ClientError(
        {"Error": {"Code": "ExecutionLimitExceeded", "Message": "too many executions"}}, "StartExecution"
    )
    response = library.client.post(f"/api/streams/{stream_id}/start")

    assert response.status == 202
    assert response.json()["status"] == "failed"
    assert "could not be launched (ExecutionLimitExceeded)" in response.json()["error"]
    assert library.active_count() == 0
    events = [e["type"] for e in library.client.get(f"/api/streams/{stream_id}/events").json()["items"]]
    assert events[:2] == ["failed", "starting"]

    aws_env.fail_with = None
    assert library.client.post(f"/api/streams/{stream_id}/start").json()["status"] == "starting"


# --- stop ---


def test_stop_asks_the_launcher_to_stop_the_runs_task(library: Library, aws_env: RecordingLauncher) -> None:
    stream_id = library.new_stream()
    library.client.post(f"/api/streams/{stream_id}/start")
    run = _stream(library, stream_id)
    run.update(actions=[Stream.task_arn.set("arn:aws:ecs:us-east-1:123456789012:task/playout-test/abc")])

    assert library.client.post(f"/api/streams/{stream_id}/stop").json()["status"] == "stopping"
    assert aws_env.stopped == [
        (
            stream_id,
            library.client.user_id,
            run.run_id,
            "arn:aws:ecs:us-east-1:123456789012:task/playout-test/abc",
        )
    ]
    assert library.active_count() == 1  # still active until the task (or the watchdog) ends it


# --- the watchdog ---


@dataclass
class FakeRuns:
    """What Step Functions and ECS would answer about each run."""

    states: dict[str, RunState] = field(default_factory=dict)
    stopped: list[tuple[str, str | None]] = field(default_factory=list)

    def run_state(self, run_id: str) -> RunState:
        return self.states.get(run_id, RunState.MISSING)

    def stop_run_task(self, run_id: str, task_arn: str | None, reason: str) -> None:
        self.stopped.append((run_id, task_arn))


def _started(library: Library, *, status: str = "starting", task_arn: str | None = None) -> Stream:
    stream_id = library.new_stream()
    library.client.post(f"/api/streams/{stream_id}/start")
    stream = _stream(library, stream_id)
    actions = [Stream.status.set(status)]
    if task_arn:
        actions.append(Stream.task_arn.set(task_arn))
    stream.update(actions=actions)
    return stream


def _beat(stream: Stream, age_s: float, run_id: str | None = None) -> None:
    StreamHealthItem(
        stream.pk,
        HEALTH_PREFIX + stream.stream_id,
        run_id=run_id or stream.run_id,
        updated_at=utcnow() - timedelta(seconds=age_s),
    ).save()


def test_the_watchdog_fails_a_live_stream_whose_workflow_ended_and_frees_its_slot(library: Library) -> None:
    stream = _started(library, status="live")
    runs = FakeRuns({str(stream.run_id): RunState.ENDED})

    (finding,) = watchdog.sweep(runs)

    assert finding.action == watchdog.SETTLED
    out = library.stream(stream.stream_id)
    assert out["status"] == "failed"
    assert "stopped without recording" in out["error"]
    assert library.active_count() == 0
    assert watchdog.sweep(runs) == []  # no longer in the active index


def test_the_watchdog_ends_a_stopping_stream_whose_task_is_gone(library: Library) -> None:
    stream = _started(library, status="stopping")
    watchdog.sweep(FakeRuns({str(stream.run_id): RunState.ENDED}))
    assert library.stream(stream.stream_id)["status"] == "ended"
    assert library.active_count() == 0


def test_the_watchdog_gives_a_launch_in_progress_its_grace_then_fails_it(library: Library) -> None:
    stream = _started(library)
    runs = FakeRuns()  # no execution for the run
    assert watchdog.sweep(runs) == []
    assert library.stream(stream.stream_id)["status"] == "starting"

    later = utcnow() + timedelta(seconds=61)
    (finding,) = watchdog.sweep(runs, now=later)
    assert finding.detail == "failed: the stream task was never launched"
    assert library.stream(stream.stream_id)["status"] == "failed"
    assert library.active_count() == 0


def test_the_watchdog_stops_a_task_whose_heartbeat_is_stale_and_leaves_the_stream_to_the_workflow(
    library: Library,
) -> None:
    task_arn = "arn:aws:ecs:us-east-1:123456789012:task/playout-test/hung"
    stale = _started(library, status="live", task_arn=task_arn)
    fresh = _started(
        library, status="live", task_arn="arn:aws:ecs:us-east-1:123456789012:task/playout-test/ok"
    )
    _beat(stale, age_s=45)
    _beat(fresh, age_s=3)
    runs = FakeRuns({str(stale.run_id): RunState.RUNNING, str(fresh.run_id): RunState.RUNNING})

    (finding,) = watchdog.sweep(runs)

    assert finding.action == watchdog.STOPPED_TASK
    assert runs.stopped == [(stale.run_id, task_arn)]
    assert library.stream(stale.stream_id)["status"] == "live"  # the workflow resumes it in a new task
    events = library.client.get(f"/api/streams/{stale.stream_id}/events").json()["items"]
    assert events[0]["type"] == "restarted"
    assert "no heartbeat for 45 s" in events[0]["message"]


def test_the_watchdog_ignores_a_stale_heartbeat_of_an_earlier_run(library: Library) -> None:
    stream = _started(
        library, status="live", task_arn="arn:aws:ecs:us-east-1:123456789012:task/playout-test/t"
    )
    _beat(stream, age_s=600, run_id="run_earlier")
    runs = FakeRuns({str(stream.run_id): RunState.RUNNING})
    assert watchdog.sweep(runs) == []
    assert runs.stopped == []


def test_the_active_index_holds_exactly_the_active_streams(library: Library) -> None:
    draft = library.new_stream()
    live = _started(library, status="live")
    ended = _started(library)
    streams.finish(ended, streams.ENDED)
    indexed = {s.stream_id for s in Stream.active_index.query(ACTIVE_STREAMS_INDEX_VALUE)}
    assert indexed == {live.stream_id}
    assert draft not in indexed


def test_step_functions_run_state_follows_the_execution_named_by_the_run(aws_env: RecordingLauncher) -> None:
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="playout-watch",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    inspector = StepFunctionsLauncher(state_machine_arn=arn, cluster_arn="arn:aws:ecs:::cluster/c")
    sfn.start_execution(stateMachineArn=arn, name="run_one", input="{}")
    assert inspector.run_state("run_one") is RunState.RUNNING
    sfn.stop_execution(executionArn=inspector.execution_arn("run_one"))
    assert inspector.run_state("run_one") is RunState.ENDED
    assert inspector.run_state("run_never") is RunState.MISSING


def test_the_watchdog_lambda_reads_the_run_from_a_stopped_tasks_overrides(library: Library) -> None:
    from stream_watchdog.handler import run_of

    stream = _started(library, status="live")
    detail = {
        "lastStatus": "STOPPED",
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/playout-test/x",
        "overrides": {
            "containerOverrides": [
                {
                    "name": "stream",
                    "environment": [
                        {"name": "STREAM_ID", "value": stream.stream_id},
                        {"name": "USER_ID", "value": library.client.user_id},
                        {"name": "RUN_ID", "value": stream.run_id},
                    ],
                }
            ]
        },
    }
    run = run_of(detail)
    assert run == (library.client.user_id, stream.stream_id, stream.run_id)
    assert watchdog.check_run(*run, FakeRuns({str(stream.run_id): RunState.RUNNING})) is None
    finding = watchdog.check_run(*run, FakeRuns({str(stream.run_id): RunState.ENDED}))
    assert finding is not None
    assert finding.action == watchdog.SETTLED
    assert run_of({"overrides": {"containerOverrides": [{"name": "other"}]}}) is None


def test_me_reads_the_counter_from_the_profile(library: Library) -> None:
    library.client.post(f"/api/streams/{library.new_stream()}/start")
    profile = UserProfile.get(user_pk(str(library.client.user_id)), PROFILE_SK)
    assert profile.active_streams == 1
    assert library.client.get("/api/me").json()["active_streams"] == 1


def test_each_sweep_publishes_the_active_and_the_silent_streams_and_the_quota_left(library: Library) -> None:
    """What the heartbeat alarm watches: one silent stream among several counts as one, until it beats."""
    from stream_watchdog.handler import publish_sweep

    task = "arn:aws:ecs:us-east-1:123456789012:task/playout-test/"
    silent = _started(library, status="live", task_arn=task + "silent")
    beating = _started(library, status="live", task_arn=task + "beating")
    _beat(silent, age_s=45)
    _beat(beating, age_s=3)
    runs = FakeRuns({str(silent.run_id): RunState.RUNNING, str(beating.run_id): RunState.RUNNING})
    project = GoogleProject(YouTubeSettings(client_id="metrics-test.apps.googleusercontent.com"))
    project.ledger().spend(YouTubeCall.BROADCASTS_INSERT)
    lines: list[str] = []

    publish_sweep(watchdog.sweep_all(runs), project, MetricsBatch("prod", write=lines.append))
    _beat(silent, age_s=1)  # the resumed task beats
    publish_sweep(
        watchdog.sweep_all(runs), GoogleProject(YouTubeSettings()), MetricsBatch("prod", write=lines.append)
    )

    first, after = (json.loads(line) for line in lines)
    assert first["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["stage"]]
    assert first["stage"] == "prod"
    assert first["ActiveStreams"] == [2.0]
    assert first["SilentStreams"] == [1.0]
    assert first["YouTubeQuotaUsed"] == [50.0]
    assert first["YouTubeQuotaLeft"] == [9950.0]
    # Every stream beats again: 0 is published (a sweep ran); YouTube not set up: no quota figures.
    assert {name: value for name, value in after.items() if name not in ("_aws", "stage")} == {
        "ActiveStreams": [2.0],
        "SilentStreams": [0.0],
    }
