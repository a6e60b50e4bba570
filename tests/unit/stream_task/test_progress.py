"""The -progress parser on literal ffmpeg output, and the health it turns into."""

from __future__ import annotations

import pytest

from stream_task.progress import Progress, ProgressParser

# ffmpeg 5.1, `-progress pipe:1 -stats_period 1 -re -f concat ... -c copy -f tee ...` (tee: no size, so N/A)
FIRST_BLOCK = """frame=1
fps=0.00
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us=0
out_time_ms=0
out_time=00:00:00.000000
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
"""
LAST_BLOCK = """frame=92
fps=30.54
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us=3033333
out_time_ms=3033333
out_time=00:00:03.033333
dup_frames=0
drop_frames=0
speed=1.01x
progress=end
"""
# ffmpeg writing one file (the size is known), with the padded bitrate ffmpeg prints.
FILE_BLOCK = """frame=300
fps=29.97
stream_0_0_q=-1.0
bitrate= 931.5kbits/s
total_size=1165824
out_time_us=10010000
out_time_ms=10010000
out_time=00:00:10.010000
dup_frames=2
drop_frames=5
speed=2.99x
progress=continue
"""
# Before the first packet some builds print a huge negative time.
NEGATIVE_BLOCK = """frame=0
fps=0.0
bitrate=N/A
total_size=0
out_time_us=-9223372036854775807
out_time_ms=-9223372036854775807
out_time=-577014:32:22.775808
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
"""


def parse(text: str) -> list[Progress]:
    parser = ProgressParser()
    return [p for line in text.splitlines(keepends=True) if (p := parser.feed(line)) is not None]


def test_a_block_is_answered_at_its_progress_line() -> None:
    parser = ProgressParser()
    lines = FIRST_BLOCK.splitlines(keepends=True)
    assert [parser.feed(line) for line in lines[:-1]] == [None] * (len(lines) - 1)
    assert parser.feed(lines[-1]) == Progress(
        frame=1, fps=0.0, bitrate_kbps=None, total_size=None, out_time_s=0.0, dup_frames=0, drop_frames=0
    )


def test_the_first_block_is_not_playing_yet() -> None:
    (first,) = parse(FIRST_BLOCK)
    assert not first.playing


def test_the_last_block_ends() -> None:
    (last,) = parse(LAST_BLOCK)
    assert last.ended
    assert last.playing
    assert last.out_time_s == pytest.approx(3.033333)
    assert (last.frame, last.fps, last.speed, last.bitrate_kbps) == (92, 30.54, 1.01, None)


def test_bitrate_size_and_dropped_frames_of_a_file_output() -> None:
    (block,) = parse(FILE_BLOCK)
    assert block.bitrate_kbps == pytest.approx(931.5)
    assert block.total_size == 1165824
    assert (block.dup_frames, block.drop_frames, block.speed) == (2, 5, 2.99)
    assert block.out_time_s == pytest.approx(10.01)


def test_a_negative_time_before_the_first_packet_is_no_time() -> None:
    (block,) = parse(NEGATIVE_BLOCK)
    assert block.out_time_s is None
    assert not block.playing


def test_blocks_in_a_row_do_not_leak_fields() -> None:
    blocks = parse(FILE_BLOCK + "frame=301\nprogress=continue\n")
    assert blocks[1] == Progress(frame=301)


def test_the_clock_is_used_when_microseconds_are_missing() -> None:
    (block,) = parse("out_time=01:02:03.500000\nprogress=continue\n")
    assert block.out_time_s == pytest.approx(3723.5)


def test_lines_that_are_not_key_value_are_ignored() -> None:
    assert parse("\n  \ngarbage\nframe=3\nprogress=continue\n") == [Progress(frame=3)]
