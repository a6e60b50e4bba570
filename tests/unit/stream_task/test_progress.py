"""The -progress parser on literal ffmpeg output, and the health it turns into."""

from __future__ import annotations

import pytest

from stream_task.progress import Item, Progress, ProgressParser, Timeline, health

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


def test_position_without_durations_is_the_output_time_plus_the_start() -> None:
    timeline = Timeline((Item(None), Item(None)), start_s=5.0)
    assert timeline.locate(2.5) == (7.5, None)


def test_a_single_item_of_unknown_length_is_item_zero() -> None:
    assert Timeline((Item(None),)).locate(42.0) == (42.0, 0)


def test_position_and_item_in_a_looping_playlist() -> None:
    timeline = Timeline((Item(10.0), Item(5.0)), loop=True)
    assert timeline.locate(3.0) == (3.0, 0)
    assert timeline.locate(10.0) == (10.0, 1)
    assert timeline.locate(14.0) == (14.0, 1)
    assert timeline.locate(16.0) == pytest.approx((1.0, 0))
    assert timeline.locate(15 * 100 + 12.0) == pytest.approx((12.0, 1))


def test_a_resumed_run_counts_from_where_it_started() -> None:
    timeline = Timeline((Item(10.0), Item(5.0)), loop=True, start_s=12.0)
    assert timeline.locate(4.0) == pytest.approx((1.0, 0))


def test_a_playlist_that_does_not_loop_stays_on_its_last_item() -> None:
    assert Timeline((Item(10.0), Item(5.0))).locate(15.5) == (15.5, 1)


def test_health_of_a_tee_output_takes_the_items_bitrate() -> None:
    (block,) = parse(LAST_BLOCK)
    timeline = Timeline((Item(10.0, 931.54),))
    assert health(block, timeline, uptime_s=4.26) == {
        "uptime_s": 4.3,
        "fps": 30.54,
        "speed": 1.01,
        "dropped_frames": 0,
        "position_s": 3.033,
        "item_index": 0,
        "bitrate_kbps": 931.5,
    }


def test_health_prefers_the_bitrate_ffmpeg_measured() -> None:
    (block,) = parse(FILE_BLOCK)
    assert health(block, Timeline((Item(20.0, 100.0),)), 1.0)["bitrate_kbps"] == 931.5


def test_health_leaves_out_what_is_unknown() -> None:
    (block,) = parse(NEGATIVE_BLOCK)
    assert health(block, Timeline((Item(None),)), 0.0) == {"uptime_s": 0.0, "fps": 0.0, "dropped_frames": 0}
    assert health(None, Timeline(()), 1.0) == {"uptime_s": 1.0}


def test_seek_finds_the_item_and_the_offset_in_it() -> None:
    timeline = Timeline((Item(10.0), Item(5.0), Item(2.0)))
    assert timeline.starts() == [0.0, 10.0, 15.0]
    assert timeline.seek(0.0) == (0, 0.0)
    assert timeline.seek(12.5) == (1, 2.5)
    assert timeline.seek(99.0) == (2, 2.0)  # past the end of a single pass: its very end
    assert Timeline((Item(10.0), Item(5.0)), loop=True).seek(31.0) == (0, 1.0)
    assert Timeline((Item(10.0), Item(None))).seek(3.0) is None
