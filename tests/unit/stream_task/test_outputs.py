"""An output's end, driven by a fake ffmpeg: a shell script that writes its input to the file named by its
last argument (where the real one has the ingest URL), or one that never reads (a stalled ingest)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stream_task.flv import Tag, TagKind, read_tags
from stream_task.outputs import Output, OutputState

AVC_HEADER = Tag(TagKind.VIDEO, 0, bytes([0x17, 0x00, 0, 0, 0]) + b"avcC")


def frame(index: int, size: int = 16) -> Tag:
    kind = 0x17 if index % 60 == 0 else 0x27
    return Tag(TagKind.VIDEO, round(index * 1000 / 30), bytes([kind, 1, 0, 0, 0]) + b"v" * size)


def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    script = tmp_path / "ffmpeg"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_close_sends_the_last_tags_before_ending_the_input(tmp_path: Path) -> None:
    """The engine hands over the stream's last tags and closes at once: none of them may be lost."""
    ffmpeg = fake_ffmpeg(tmp_path, 'for last; do :; done\nexec cat > "$last"')
    received = tmp_path / "ingest.flv"
    output = Output("d1", str(received), ffmpeg=ffmpeg, redact=str)
    wait_until(lambda: output.connects == 1)
    output.send(AVC_HEADER)
    for index in range(90):
        output.send(frame(index))
    output.close(grace_s=2.0)

    tags = [tag for tag in read_tags(io.BytesIO(received.read_bytes())) if tag.is_media]
    assert [tag.timestamp_ms for tag in tags] == [frame(i).timestamp_ms for i in range(90)]
    assert output.state is OutputState.STOPPED


@pytest.mark.parametrize("grace_s", [0.0, 0.3])
def test_close_stops_a_pusher_whose_ingest_stalled(tmp_path: Path, grace_s: float) -> None:
    ffmpeg = fake_ffmpeg(tmp_path, "exec sleep 30")  # never reads: the pipe fills and writes block
    output = Output("d1", "rtmp://127.0.0.1/live/x", ffmpeg=ffmpeg, redact=str)
    wait_until(lambda: output.connects == 1)
    output.send(AVC_HEADER)
    for index in range(120):
        output.send(frame(index, size=4096))  # ~500 kB, far more than a pipe holds
    time.sleep(0.2)

    started = time.monotonic()
    output.close(grace_s=grace_s)
    assert time.monotonic() - started < grace_s + 3.0
    wait_until(lambda: output.state is OutputState.STOPPED)
    assert output.state is OutputState.STOPPED
