"""The stream task's metrics: one EMF line per heartbeat (what CloudWatch turns into the dashboard's and the
alarms' figures), counting restarts and failed destinations, and carrying numbers only: a destination's URL,
its stream key or a reason never reaches a metric. DynamoDB is moto in process; the output is a real
`Output` pushing to a fake ffmpeg that reads its input and reports the bytes it sent as ffmpeg's
`-progress` does."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.resources import table_spec
from playout.metrics import Metric, MetricsBatch
from playout.models import HEALTH_PREFIX, Stream, StreamHealthItem, bind_table, user_pk
from stream_task.outputs import Output
from stream_task.reporter import DATABASE_ERRORS, Reporter, RunIds, UsageBase
from tests.unit.stream_task.test_outputs import AVC_HEADER, fake_ffmpeg, frame, wait_until

TABLE = "playout-metrics-test"
IDS = RunIds("user-1", "str_metrics", "run_metrics")
STREAM_KEY = "sk-live-0123456789abcdef"  # made up: looked for in what is published
INGEST_URL = f"rtmp://ingest.example/live/{STREAM_KEY}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table() -> Iterator[None]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(**table_spec(TABLE))
        bind_table(TABLE)
        StreamHealthItem(user_pk(IDS.user_id), HEALTH_PREFIX + IDS.stream_id, run_id=IDS.run_id).save()
        yield


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reporter(table: None, lines: list[str], clock: FakeClock) -> Reporter:
    return Reporter(
        IDS,
        Stream(user_pk(IDS.user_id), "STREAM#" + IDS.stream_id, stream_id=IDS.stream_id, run_id=IDS.run_id),
        log=logging.getLogger("test"),
        interval_s=5.0,
        capacity="spot",
        base=UsageBase(),
        on_wanted=lambda wanted: None,
        metrics=MetricsBatch("prod", write=lines.append),
        clock=clock,
    )


# Reads its input in 1 kB blocks and reports the running total as `-progress pipe:1` does (stdout).
PROGRESS_FFMPEG = """total=0
while :; do
  n=$(head -c 1024 | wc -c)
  [ "$n" -eq 0 ] && exit 0
  total=$((total + n))
  printf 'total_size=%d\\nprogress=continue\\n' "$total"
done"""


def _pushing(tmp_path: Path) -> Output:
    output = Output("dst_1", INGEST_URL, ffmpeg=fake_ffmpeg(tmp_path, PROGRESS_FFMPEG), redact=str)
    wait_until(lambda: output.connects == 1)
    return output


def _send(output: Output, frames: range, *, reaching: int) -> None:
    for index in frames:
        output.send(frame(index, size=1000))
    wait_until(lambda: output.stats().bytes_sent >= reaching)


def _published(line: str) -> tuple[dict[str, Any], dict[str, float]]:
    document = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    names = [m["Name"] for m in directive["Metrics"]]
    return directive, {name: sum(document[name]) for name in names}


def test_a_heartbeat_publishes_the_beat_the_tasks_seconds_and_the_bytes_sent_since_the_last_one(
    reporter: Reporter, lines: list[str], clock: FakeClock, tmp_path: Path
) -> None:
    output = _pushing(tmp_path)
    reporter.playing(None, [output])
    output.send(AVC_HEADER)
    _send(output, range(30), reaching=29 * 1024)
    first_bytes = output.stats().bytes_sent
    assert first_bytes >= 29 * 1024
    clock.now += 5.0

    reporter.final_beat(deadline_s=5)

    (line,) = lines
    directive, values = _published(line)
    assert directive["Namespace"] == "Playout"
    assert directive["Dimensions"] == [["stage"]]  # the stage only: no stream, user or destination id
    assert json.loads(line)["stage"] == "prod"
    assert values == {"Heartbeats": 1, "StreamSeconds": 5.0, "BytesSent": first_bytes}
    assert STREAM_KEY not in line

    _send(output, range(30, 45), reaching=first_bytes + 14 * 1024)
    clock.now += 5.0
    reporter.final_beat(deadline_s=5)

    _, values = _published(lines[1])
    assert values == {
        "Heartbeats": 1,
        "StreamSeconds": 5.0,
        "BytesSent": output.stats().bytes_sent - first_bytes,  # only what was sent since the last beat
    }
    output.close(grace_s=1.0)


def test_a_restart_and_a_failing_destination_are_counted_with_the_next_beat_and_their_words_are_not(
    reporter: Reporter, lines: list[str], clock: FakeClock
) -> None:
    reporter.event("restarted", f"reader restarted in item 1 (Connection refused {INGEST_URL}); gap 0.4 s")
    reporter.event("destination_retrying", f"destination dst_1 is retrying: {INGEST_URL}: I/O error")
    reporter.event("destination_live", "destination dst_1 is live again after 3.0 s")
    reporter.event("destination_failed", f"destination dst_1 is failed: {INGEST_URL} refused for 600 s")
    clock.now += 2.5

    reporter.final_beat(deadline_s=5)

    (line,) = lines
    _, values = _published(line)
    assert values == {"Restarts": 1, "DestinationFailures": 2, "Heartbeats": 1, "StreamSeconds": 2.5}
    assert STREAM_KEY not in line
    assert "dst_1" not in line
    for run_id in (IDS.stream_id, IDS.user_id, IDS.run_id):
        assert run_id not in line
    assert set(json.loads(line)) == {
        "_aws",
        "stage",
        "Restarts",
        "DestinationFailures",
        "Heartbeats",
        "StreamSeconds",
    }


def test_a_heartbeat_the_database_refuses_is_published_as_a_failure(
    reporter: Reporter, lines: list[str], clock: FakeClock
) -> None:
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=TABLE)
    clock.now += 5.0

    with pytest.raises(DATABASE_ERRORS):
        reporter.final_beat(deadline_s=0)

    (line,) = lines
    _, values = _published(line)
    assert values == {"HeartbeatFailures": 1, "StreamSeconds": 5.0}


def test_a_batch_takes_only_playouts_metric_names_numbers_and_a_stage_name() -> None:
    lines: list[str] = []
    batch = MetricsBatch("dev", write=lines.append)
    with pytest.raises(ValueError, match="is not a valid Metric"):
        batch.add("rtmp://ingest.example/live/key", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        batch.add(Metric.RESTARTS, "rtmp://ingest.example/live/key")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lowercase"):
        MetricsBatch("Prod stage")
    assert batch.flush() is None  # nothing gathered: no line
    assert lines == []
    batch.add(Metric.ACTIVE_STREAMS, 0)
    batch.flush()
    _, values = _published(lines[0])
    assert values == {"ActiveStreams": 0}  # a zero is published: it tells a sweep ran


def test_the_reporters_own_beats_publish_too(reporter: Reporter, lines: list[str]) -> None:
    reporter.event("restarted", "resuming at pass 1, item 2, at 12.0 s")
    reporter.start(["dst_1"])  # its first beat is at once
    wait_until(lambda: bool(lines))
    reporter.close()

    _, values = _published(lines[0])
    assert values == {"Restarts": 1, "Heartbeats": 1, "StreamSeconds": 0.0}
