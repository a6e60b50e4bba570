"""The stream task end to end against moto (DynamoDB, S3, KMS) with a real ffmpeg writing FLV files in place
of RTMP ingests: no network. A destination's URL is a directory here; its stream key becomes the file name."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools import Logger

from playout import crypto
from playout.media import READY, object_key
from playout.models import DESTINATION_PREFIX, MEDIA_PREFIX, Destination, Media, user_pk
from playout.streams import StreamSpec, create_stream, get_stream, list_events, start_stream, stop_stream
from stream_task.progress import Progress
from stream_task.redact import RedactingFormatter, Redactor
from stream_task.runner import EXIT_INTERRUPTED, EXIT_OK, StreamRun
from stream_task.settings import TaskSettings
from tests.integration.conftest import RecordingLauncher

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

USER = "33333333-cccc-4ccc-8ccc-333333333333"
KEY = "live-key-7f3a9c"


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2 s of H.264/AAC, keyframes every second: stream-ready media."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i",
         "testsrc2=size=320x180:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-ac", "2", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


@dataclass
class Task:
    run: StreamRun
    logs: io.StringIO
    scratch: Path


@dataclass
class World:
    tmp: Path
    clip: bytes

    def media(self) -> str:
        media_id = f"med_{uuid.uuid4().hex}"
        key = object_key(USER, media_id)
        boto3.client("s3").put_object(Bucket=os.environ["MEDIA_BUCKET"], Key=key, Body=self.clip)
        Media(
            user_pk(USER), MEDIA_PREFIX + media_id, media_id=media_id, filename="clip.mp4",
            content_type="video/mp4", size_bytes=len(self.clip), status=READY, object_key=key, duration_s=2.0,
        ).save()  # fmt: skip
        return media_id

    def destination(self, directory: Path, key: str = KEY) -> str:
        """A destination whose ingest URL is `<directory>/<key>`: ffmpeg writes the FLV there."""
        destination_id = f"dst_{uuid.uuid4().hex}"
        Destination(
            user_pk(USER), DESTINATION_PREFIX + destination_id, destination_id=destination_id, type="rtmp",
            name="file sink", url=str(directory),
            stream_key_ciphertext=crypto.encrypt(key, USER, destination_id),
        ).save()  # fmt: skip
        return destination_id

    def stream(self, media_ids: list[str], destination_ids: list[str], loop: bool = False) -> tuple[str, str]:
        spec = StreamSpec("Test", "", "unlisted", media_ids, destination_ids, loop, None)
        stream_id = create_stream(USER, spec).stream_id
        started = start_stream(USER, stream_id)
        return stream_id, str(started.run_id)

    def task(
        self, stream_id: str, run_id: str, run_class: type[StreamRun] = StreamRun, **settings: object
    ) -> Task:
        redactor = Redactor()
        logs = io.StringIO()
        logger = Logger(
            service=f"stream_task-{uuid.uuid4().hex}",
            stream=logs,
            logger_formatter=RedactingFormatter(redactor),
        )
        logger.append_keys(stream_id=stream_id, run_id=run_id)
        scratch = self.tmp / f"scratch-{uuid.uuid4().hex}"
        values = {
            "stream_id": stream_id, "user_id": USER, "run_id": run_id, "table_name": os.environ["TABLE_NAME"],
            "media_bucket": os.environ["MEDIA_BUCKET"], "scratch_dir": scratch, "heartbeat_interval_s": 0.2,
            **settings,
        }  # fmt: skip
        return Task(run_class(TaskSettings(**values), logger, redactor), logs, scratch)  # type: ignore[arg-type]


@pytest.fixture
def world(aws_env: RecordingLauncher, tmp_path: Path, clip: bytes) -> World:
    return World(tmp_path, clip)


def events(stream_id: str) -> list[tuple[str, str]]:
    page = list_events(USER, stream_id, 100, None)
    return [(str(e.type), str(e.message)) for e in reversed(page.items)]


def kinds(stream_id: str) -> list[str]:
    return [kind for kind, _ in events(stream_id)]


def probe_duration(path: Path) -> float:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(result.stdout)


def assert_no_secret(task: Task, *texts: str) -> None:
    for text in (task.logs.getvalue(), *texts):
        assert KEY not in text


def test_a_playlist_plays_to_every_destination_and_ends(world: World) -> None:
    first, second = world.media(), world.media()
    sinks = [world.tmp / "ingest-a", world.tmp / "ingest-b"]
    for sink in sinks:
        sink.mkdir()
    stream_id, run_id = world.stream([first, second, first], [world.destination(s) for s in sinks])
    task = world.task(stream_id, run_id)

    assert task.run.run() == EXIT_OK

    stream = get_stream(USER, stream_id, consistent=True)
    assert (stream.status, stream.error) == ("ended", None)
    assert stream.ended_at is not None
    assert kinds(stream_id) == ["created", "starting", "live", "ended"]
    health = stream.health
    assert health is not None
    assert health.position_s > 4  # the third item of three 2 s items
    assert health.item_index == 2
    assert health.fps > 0
    assert health.bitrate_kbps > 0
    assert health.uptime_s > 0
    assert health.updated_at is not None
    for sink in sinks:
        assert probe_duration(sink / KEY) > 5.5  # three clips, one after another, copied whole
    assert list(task.scratch.iterdir()) == []  # downloads and the list are gone
    lines = [json.loads(line) for line in task.logs.getvalue().splitlines()]
    assert {(line["stream_id"], line["run_id"]) for line in lines} == {(stream_id, run_id)}
    assert_no_secret(task, str(stream.error), *(m for _, m in events(stream_id)))


def test_a_failing_ffmpeg_fails_the_stream_with_its_reason_and_no_key(world: World) -> None:
    stream_id, run_id = world.stream([world.media()], [world.destination(world.tmp / "no-such-dir")])
    task = world.task(stream_id, run_id)

    assert task.run.run() == EXIT_OK

    stream = get_stream(USER, stream_id, consistent=True)
    assert stream.status == "failed"
    error = str(stream.error)
    assert error.startswith("ffmpeg exited with code 1: ")
    assert "All tee outputs failed." in error
    assert f"{world.tmp / 'no-such-dir'}/****': error opening: No such file or directory" in error
    assert kinds(stream_id)[-1] == "failed"
    assert list(task.scratch.iterdir()) == []
    assert "ffmpeg failed" in task.logs.getvalue()
    assert_no_secret(task, error, *(m for _, m in events(stream_id)))


class StopWhenLive(StreamRun):
    """Asks the API to stop the stream as soon as it is live, as a user would."""

    def _on_live(self, progress: Progress) -> None:
        super()._on_live(progress)
        stop_stream(self.settings.user_id, self.settings.stream_id)


def test_a_stream_stopped_while_live_ends_and_its_ffmpeg_is_gone(world: World) -> None:
    sink = world.tmp / "ingest"
    sink.mkdir()
    stream_id, run_id = world.stream([world.media()], [world.destination(sink)], loop=True)
    task = world.task(stream_id, run_id, StopWhenLive)

    assert task.run.run() == EXIT_OK

    assert get_stream(USER, stream_id, consistent=True).status == "ended"
    assert kinds(stream_id)[-3:] == ["live", "stopping", "ended"]
    pid = task.run.supervisor.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert probe_duration(sink / KEY) > 0  # the FLV was closed cleanly (SIGINT, not a kill)


class InterruptAfterASecond(StreamRun):
    """SIGTERM (Spot reclaim) a second into the playlist: the signal handler calls interrupt()."""

    def _on_heartbeat(self, progress: Progress | None) -> bool:
        keep_going = super()._on_heartbeat(progress)
        if progress is not None and (progress.out_time_s or 0) > 1.2:
            self.interrupt()
        return keep_going


def test_an_interrupted_run_saves_its_position_and_the_next_task_resumes_it(world: World) -> None:
    sink = world.tmp / "ingest"
    sink.mkdir()
    stream_id, run_id = world.stream([world.media(), world.media()], [world.destination(sink)])

    assert world.task(stream_id, run_id, InterruptAfterASecond).run.run() == EXIT_INTERRUPTED

    stream = get_stream(USER, stream_id, consistent=True)
    assert stream.status == "live"  # for the workflow's retry to resume
    assert stream.health is not None
    position = float(stream.health.position_s)
    assert position > 1.2
    assert kinds(stream_id)[-1] == "interrupted"

    assert world.task(stream_id, run_id).run.run() == EXIT_OK  # the retried task, same run

    assert get_stream(USER, stream_id, consistent=True).status == "ended"
    assert kinds(stream_id)[-3:] == ["interrupted", "restarted", "ended"]
    assert events(stream_id)[-2][1] == f"resuming at {position:.1f} s"
    resumed = probe_duration(sink / KEY)
    # the rest of the 4 s playlist, from the keyframe before the position
    assert 1.5 < resumed < 3.6, (position, resumed, events(stream_id))


def test_a_run_that_is_no_longer_wanted_touches_nothing(world: World) -> None:
    stream_id, _ = world.stream([world.media()], [world.destination(world.tmp)])
    task = world.task(stream_id, "run_stale", ffmpeg_path=str(world.tmp / "no-ffmpeg"))

    assert task.run.run() == EXIT_OK

    assert get_stream(USER, stream_id, consistent=True).status == "starting"
    assert kinds(stream_id) == ["created", "starting"]
    assert not task.scratch.exists()


def test_a_stream_stopped_before_the_task_started_just_ends(world: World) -> None:
    stream_id, run_id = world.stream([world.media()], [world.destination(world.tmp)])
    stop_stream(USER, stream_id)
    task = world.task(stream_id, run_id, ffmpeg_path=str(world.tmp / "no-ffmpeg"))

    assert task.run.run() == EXIT_OK

    assert get_stream(USER, stream_id, consistent=True).status == "ended"
    assert kinds(stream_id)[-2:] == ["stopping", "ended"]


def test_media_missing_from_the_bucket_fails_the_stream(world: World) -> None:
    media_id = world.media()
    boto3.client("s3").delete_object(Bucket=os.environ["MEDIA_BUCKET"], Key=object_key(USER, media_id))
    stream_id, run_id = world.stream([media_id], [world.destination(world.tmp)])
    task = world.task(stream_id, run_id)

    assert task.run.run() == EXIT_OK

    stream = get_stream(USER, stream_id, consistent=True)
    assert stream.status == "failed"
    assert str(stream.error).startswith(f"media {media_id} could not be downloaded")
    assert list(task.scratch.iterdir()) == []
