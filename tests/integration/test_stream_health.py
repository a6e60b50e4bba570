"""The health item and the task's writes, as a user and the workflow would notice them: what the API shows per
destination and on the cost meter, a stop that reaches the task, and database errors that are retried
rather than taken for "superseded"."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aws_lambda_powertools import Logger
from pynamodb.exceptions import UpdateError

from playout import aws, health, streams
from playout.health import Beat, DestinationReport
from playout.models import MEDIA_PREFIX, BroadcastRef, Media, Stream, user_pk
from playout.workflow import EXIT_ENDED_UNWRITTEN, EXIT_FAILED, EXIT_SETTLED
from playout.youtube.broadcasts import Broadcasts
from stream_task.engine import Ending, EngineResult
from stream_task.reporter import Reporter, RunIds, UsageBase, retry_write
from stream_task.runner import SetupFailed, StreamRun
from stream_task.settings import TaskSettings
from stream_task.staging import Stager
from tests.integration.dynamo_faults import throttled
from tests.integration.helpers import dynamodb_calls
from tests.integration.library import Library

log = logging.getLogger("test")


def _started(library: Library, **extra: object) -> tuple[str, Stream]:
    stream_id = library.new_stream(**extra)
    assert library.client.post(f"/api/streams/{stream_id}/start").status == 202
    user_id = str(library.client.user_id)
    return stream_id, streams.get_stream(user_id, stream_id, consistent=True)


def _ids(library: Library, stream: Stream) -> RunIds:
    return RunIds(str(library.client.user_id), stream.stream_id, str(stream.run_id))


def _beat(**extra: object) -> Beat:
    values: dict[str, object] = {
        "uptime_s": 60.0,
        "capacity": "spot",
        "spot_s": 3600.0,
        "on_demand_s": 0.0,
        "destinations": [DestinationReport("retrying", "connection refused", 1_000_000_000)],
        "position_s": 59.5,
        "pass_index": 0,
        "slot": 2,
        "item_offset_s": 12.25,
        "item_index": 2,
        "bitrate_kbps": 4500.0,
        "fps": 30.0,
    }
    return Beat(**{**values, **extra})  # type: ignore[arg-type]


def test_the_api_shows_each_destination_its_health_and_the_cost_so_far(library: Library) -> None:
    stream_id, stream = _started(library)
    before = library.stream(stream_id)
    assert [d["status"] for d in before["destinations"]] == ["connecting"]
    assert before["health"] is None
    assert before["usage"]["estimated_usd"] == 0

    ids = _ids(library, stream)
    assert health.beat(ids.user_id, ids.stream_id, ids.run_id, _beat()) == health.WANT_PLAY

    shown = library.stream(stream_id)
    (destination,) = shown["destinations"]
    assert destination["destination_id"] == stream.destination_ids[0]
    assert (destination["status"], destination["reason"], destination["bytes_sent"]) == (
        "retrying",
        "connection refused",
        1_000_000_000,
    )
    assert shown["health"]["fps"] == 30
    assert shown["health"]["bitrate_kbps"] == 4500
    assert shown["health"]["position_s"] == 59.5
    assert shown["usage"]["egress_bytes"] == 1_000_000_000
    assert (shown["usage"]["compute_s"], shown["usage"]["capacity"]) == (3600, "spot")
    # An hour on Spot at 0.25 vCPU / 0.5 GB, 1 GB out and 720 health writes: about nine cents, mostly egress.
    assert 0.09 < shown["usage"]["estimated_usd"] < 0.1
    listed = {s["stream_id"]: s for s in library.client.get("/api/streams").json()["items"]}
    assert listed[stream_id]["usage"] == shown["usage"]


def test_stop_reaches_the_task_through_its_heartbeat(library: Library) -> None:
    stream_id, stream = _started(library)
    ids = _ids(library, stream)
    assert library.client.post(f"/api/streams/{stream_id}/stop").json()["status"] == "stopping"
    assert health.beat(ids.user_id, ids.stream_id, ids.run_id, _beat()) == health.WANT_STOP


def test_a_new_run_supersedes_the_old_runs_heartbeat_and_keeps_the_usage(library: Library) -> None:
    stream_id, old = _started(library)
    user_id = str(library.client.user_id)
    health.beat(user_id, stream_id, str(old.run_id), _beat())
    assert streams.finish(old, streams.ENDED) is True
    library.client.post(f"/api/streams/{stream_id}/start")

    assert health.beat(user_id, stream_id, str(old.run_id), _beat()) is None  # superseded: the only None
    shown = library.stream(stream_id)
    assert shown["health"] is None  # the old run's position is not this run's
    assert shown["usage"]["egress_bytes"] == 1_000_000_000  # usage is the stream's, over every run


def test_a_throttled_heartbeat_raises_rather_than_reading_as_superseded(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, stream = _started(library)
    ids = _ids(library, stream)
    with throttled(monkeypatch, "UpdateItem") as refused, pytest.raises(UpdateError) as raised:
        health.beat(ids.user_id, ids.stream_id, ids.run_id, _beat())
    assert refused
    assert raised.value.cause_response_code == "ThrottlingException"
    assert health.beat(ids.user_id, ids.stream_id, ids.run_id, _beat()) == health.WANT_PLAY


def test_the_reporter_plays_through_a_throttle_and_beats_again_after_it(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream_id, stream = _started(library)
    wanted: list[str | None] = []
    reporter = Reporter(
        _ids(library, stream),
        stream,
        log=log,
        interval_s=0.2,
        capacity="on_demand",
        base=UsageBase(),
        on_wanted=wanted.append,
    )
    with throttled(monkeypatch, "UpdateItem") as refused:
        reporter.start([str(d) for d in stream.destination_ids])
        reporter.on_air()
        deadline = time.monotonic() + 10
        while len(refused) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(refused) >= 3  # the live write and beats, each refused ...
        assert library.stream(stream_id)["status"] == "starting"
        assert wanted == []  # ... and none taken for a stop or a superseded run
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and library.stream(stream_id)["health"] is None:
        time.sleep(0.1)
    reporter.close()
    shown = library.stream(stream_id)
    assert shown["status"] == "live"  # written once the throttle passed
    assert shown["health"] is not None
    assert wanted == []


def test_retry_write_backs_off_then_gives_up_at_its_deadline() -> None:
    calls: list[float] = []
    slept: list[float] = []
    now = [0.0]

    def failing() -> None:
        calls.append(now[0])
        raise OSError("network unreachable")

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(OSError, match="unreachable"):
        retry_write(failing, what="write", deadline_s=10, log=log, sleep=sleep, clock=lambda: now[0])
    assert slept == [0.5, 1.0, 2.0, 4.0]  # the next wait (8 s) would pass the deadline
    assert len(calls) == 5


def _run(
    library: Library,
    stream: Stream,
    tmp_path: Path,
    deadline_s: float,
    youtube: Callable[[], Broadcasts] | None = None,
) -> StreamRun:
    settings = TaskSettings(
        stream_id=stream.stream_id,
        user_id=str(library.client.user_id),
        run_id=str(stream.run_id),
        table_name=os.environ["TABLE_NAME"],
        media_bucket=os.environ["MEDIA_BUCKET"],
        scratch_dir=tmp_path,
        final_write_deadline_s=deadline_s,
    )
    return StreamRun(settings, Logger(service="test-task"), youtube=youtube)


@pytest.mark.parametrize(
    ("ending", "exit_code"),
    [(Ending.FINISHED, EXIT_ENDED_UNWRITTEN), (Ending.FAILED, EXIT_FAILED)],
)
def test_an_end_the_database_will_not_take_exits_non_zero_for_the_workflow(
    library: Library, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ending: Ending, exit_code: int
) -> None:
    stream_id, stream = _started(library)
    run = _run(library, stream, tmp_path, deadline_s=1)
    with throttled(monkeypatch, "TransactWriteItems") as refused:
        code = run._conclude(stream, EngineResult(ending, "boom" if ending is Ending.FAILED else None))
    assert code == exit_code
    assert len(refused) >= 2  # retried before giving up
    assert library.stream(stream_id)["status"] == "starting"  # left for the workflow to write
    assert library.active_count() == 1


def test_an_end_written_after_a_throttle_exits_zero(
    library: Library, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stream_id, stream = _started(library)
    run = _run(library, stream, tmp_path, deadline_s=10)
    with throttled(monkeypatch, "TransactWriteItems", times=2) as refused:
        code = run._conclude(stream, EngineResult(Ending.FINISHED))
    assert len(refused) == 2
    assert code == EXIT_SETTLED
    assert library.stream(stream_id)["status"] == "ended"
    assert library.active_count() == 0


def test_a_youtube_client_that_cannot_be_built_at_the_end_leaves_the_stream_ended(
    library: Library, tmp_path: Path
) -> None:
    stream_id, stream = _started(library)
    stream.broadcasts = [BroadcastRef(destination_id="dst_youtube", broadcast_id="video-1")]

    def broken_client() -> Broadcasts:
        raise ImportError("cannot import name 'discovery' from 'googleapiclient'")

    run = _run(library, stream, tmp_path, deadline_s=10, youtube=broken_client)
    code = run._conclude(stream, EngineResult(Ending.STOPPED, "stopped by the user"))
    assert code == EXIT_SETTLED
    assert library.stream(stream_id)["status"] == "ended"


def test_a_run_whose_media_is_gone_fails_with_the_media_named(
    library: Library, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, stream = _started(library)
    Media.get(user_pk(str(library.client.user_id)), MEDIA_PREFIX + library.media_id).delete()
    run = _run(library, stream, tmp_path, deadline_s=1)
    stager = Stager(aws.client("s3", "path"), os.environ["MEDIA_BUCKET"], tmp_path, logger=Logger())
    with dynamodb_calls(monkeypatch) as calls, pytest.raises(SetupFailed) as failed:
        run._plan(stream, stager)
    assert str(failed.value) == f"media {library.media_id} not found"
    assert calls.operations == ["BatchGetItem"]  # the playlist's media in one read, not one each
