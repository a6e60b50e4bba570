"""What hides a slow reader on air. The engine opens the next item's reader as the last one's ffmpeg ends,
seconds before that item's tags are all taken, and the first frame waits for a cushion of media read.
Each is measured at a real nginx-rtmp as the longest wait between two pictures reaching the ingest, with a
real ffmpeg that is slow where a loaded machine or a slow S3 response makes it slow: one that starts late,
and one that pauses after its first bytes."""

from __future__ import annotations

import io
import logging
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from local.task_image import engine_ffmpeg
from stream_task.engine import Ending, Engine, EngineLimits
from stream_task.flv import HEADER_SIZE, TAG_HEADER_SIZE, read_tags
from stream_task.outputs import Output
from stream_task.playlist import Item, PlayOrder
from stream_task.reader import Part, reader_argv
from stream_task.redact import Redactor
from tests.e2e.conftest import RtmpSink, make_clip
from tests.e2e.gaps import RecordingWatch

log = logging.getLogger("engine-cushions-test")

pytestmark = pytest.mark.xdist_group("handover")

HOLE_LIMIT_S = 1.0  # what every fault test allows a stream that should not stutter
# Passes the first `n` bytes of stdin to stdout, waits, then the rest: the pause comes after the first
# pictures went out, where a reader's slow S3 response or a starved CPU would put it.
_PAUSE_AFTER = """
import os, sys, time
n, pause_s = int(sys.argv[1]), float(sys.argv[2])
while n > 0:
    chunk = os.read(0, min(n, 65536))
    if not chunk:
        break
    os.write(1, chunk)
    n -= len(chunk)
time.sleep(pause_s)
while chunk := os.read(0, 65536):
    os.write(1, chunk)
"""


def _clip(path: Path, seconds: float) -> Path:
    return make_clip(path, seconds, tone_hz=330, size="320x180", gop=30, preset="ultrafast")


def _slow_ffmpeg(tmp_path: Path, source: Path, *, start_late_s: float = 0.0, pause: str = "") -> str:
    """An ffmpeg that is slow only when it reads `source`: it starts `start_late_s` late, or its output
    goes through `pause` (a shell pipeline stage)."""
    real, script = shlex.quote(engine_ffmpeg()), tmp_path / "slow-ffmpeg"
    slow = f'sleep {start_late_s}; exec {real} "$@"' if not pause else f'{real} "$@" | {pause}'
    script.write_text(
        f'#!/bin/sh\ncase "$*" in\n  *{source.name}*) {slow} ;;\n  *) exec {real} "$@" ;;\nesac\n'
    )
    script.chmod(0o755)
    return str(script)


def _bytes_before(source: Path, seconds: float) -> int:
    """How many bytes of a reader's output come before its media reaches `seconds`."""
    argv = reader_argv(engine_ffmpeg(), Part(str(source), duration_s=seconds + 1.0))
    out = subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout
    offset = HEADER_SIZE + 4
    for tag in read_tags(io.BytesIO(out)):
        if tag.is_media and tag.timestamp_ms >= seconds * 1000:
            return offset
        offset += TAG_HEADER_SIZE + len(tag.body) + 4
    raise AssertionError(f"{source} has less than {seconds} s")


def _play(
    sink: RtmpSink, key: str, ffmpeg: str, items: list[tuple[Path, float]], limits: EngineLimits
) -> float:
    """Plays `items` once to the sink through an engine whose readers run `ffmpeg`; the longest hole."""
    order = PlayOrder([Item(str(path), seconds) for path, seconds in items], passes=1)
    redact = Redactor()
    output = Output("dst_sink", f"{sink.url}/{key}", ffmpeg=engine_ffmpeg(), redact=redact, logger=log)
    engine = Engine(
        order.entries(),
        source=lambda entry: entry.item.media_id,
        outputs=[output],
        ffmpeg=ffmpeg,
        redact=redact,
        logger=log,  # type: ignore[arg-type]
        limits=limits,
    )
    with RecordingWatch(sink.record_dir, key) as recording:
        try:
            result = engine.run()
        finally:
            output.close(5)
    assert result.ending is Ending.FINISHED, result.reason
    played = recording.seconds_of_video()
    assert abs(played - sum(seconds for _, seconds in items)) <= 1.0, played
    gap = recording.wall_gap()
    print(f"{key}: {played:.1f} s played, longest hole {gap}")
    return gap.seconds


def test_the_next_item_s_reader_starting_5s_late_leaves_no_hole_at_the_seam(
    rtmp_sink: RtmpSink, tmp_path: Path
) -> None:
    # Opened only once the first item's last tag was taken, the second item's reader had the read-ahead
    # less the lead (3 s) to start: 5 s late left a 2 s hole.
    first, second = _clip(tmp_path / "first.mp4", 16), _clip(tmp_path / "second.mp4", 6)
    ffmpeg = _slow_ffmpeg(tmp_path, second, start_late_s=5.0)
    hole = _play(rtmp_sink, "cushion-seam", ffmpeg, [(first, 16.0), (second, 6.0)], EngineLimits())
    assert hole <= HOLE_LIMIT_S


def test_a_reader_that_pauses_after_its_first_pictures_leaves_no_hole_at_the_start(
    rtmp_sink: RtmpSink, tmp_path: Path
) -> None:
    # Sent as it came, the first 0.4 s aired at once, then the picture stopped for the 2 s pause.
    clip = _clip(tmp_path / "paused.mp4", 8)
    pause = f"{shlex.quote(sys.executable)} -c {shlex.quote(_PAUSE_AFTER)} {_bytes_before(clip, 0.4)} 2"
    ffmpeg = _slow_ffmpeg(tmp_path, clip, pause=pause)
    limits = EngineLimits(start_cushion_ms=3000)
    hole = _play(rtmp_sink, "cushion-start", ffmpeg, [(clip, 8.0)], limits)
    assert hole <= HOLE_LIMIT_S
