"""The ffmpeg command line, the ffconcat list, and reading ffprobe's answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_task.command import PlayItem, build_argv, escape_tee, ffconcat, tee_spec
from stream_task.probe import Probe, parse_probe, probe

LIST = Path("/scratch/list.ffconcat")
URL = "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl"


def test_the_argv_copies_the_playlist_to_every_ingest_through_tee() -> None:
    argv = build_argv(ffmpeg="ffmpeg", concat_list=LIST, urls=[URL, "rtmps://live.example.com:443/app/k2"])
    assert argv == [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
        "-progress", "pipe:1", "-stats_period", "1",
        "-re", "-f", "concat", "-safe", "0", "-i", "/scratch/list.ffconcat",
        "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-tag:v", "7", "-tag:a", "10",
        "-f", "tee", "-flags", "+global_header",
        f"[f=flv:onfail=ignore]{URL}|[f=flv:onfail=ignore]rtmps://live.example.com:443/app/k2",
    ]  # fmt: skip


def test_loop_and_duration() -> None:
    argv = build_argv(ffmpeg="/usr/bin/ffmpeg", concat_list=LIST, urls=[URL], loop=True, duration_s=3600)
    assert argv[0] == "/usr/bin/ffmpeg"
    i = argv.index("-re")
    assert argv[i : i + 5] == ["-re", "-stream_loop", "-1", "-f", "concat"]
    assert argv[argv.index("-t") + 1] == "3600.000"
    assert argv.index("-t") > argv.index("-i")  # an output option: it bounds what is sent
    assert argv[-3:-1] == ["-flags", "+global_header"]


def test_no_loop_no_seek_no_limit_by_default() -> None:
    argv = build_argv(ffmpeg="ffmpeg", concat_list=LIST, urls=[URL])
    assert not {"-stream_loop", "-ss", "-t"} & set(argv)


def test_a_stream_needs_an_ingest() -> None:
    with pytest.raises(ValueError, match="ingest"):
        build_argv(ffmpeg="ffmpeg", concat_list=LIST, urls=[])


def test_tee_special_characters_in_a_url_are_escaped() -> None:
    assert escape_tee("rtmp://h/app/a|b[c]d'e\\f") == "rtmp://h/app/a\\|b\\[c\\]d\\'e\\\\f"
    assert tee_spec(["rtmp://h/x|y"]) == "[f=flv:onfail=ignore]rtmp://h/x\\|y"


def test_ffconcat_lists_items_in_order_with_outpoints() -> None:
    text = ffconcat(
        [PlayItem(Path("/s/000-a"), 9.966667), PlayItem(Path("/s/001-b")), PlayItem(Path("/s/000-a"))]
    )
    assert text == (
        "ffconcat version 1.0\nfile '/s/000-a'\noutpoint 9.966667\nfile '/s/001-b'\nfile '/s/000-a'\n"
    )


def test_ffconcat_enters_a_resumed_item_at_its_inpoint() -> None:
    text = ffconcat([PlayItem(Path("/s/001-b"), 9.5, inpoint_s=3.25), PlayItem(Path("/s/002-c"))])
    assert (
        text
        == "ffconcat version 1.0\nfile '/s/001-b'\ninpoint 3.250000\noutpoint 9.500000\nfile '/s/002-c'\n"
    )


def test_ffconcat_quotes_a_path_with_a_quote() -> None:
    assert "file '/s/it'\\''s'" in ffconcat([PlayItem(Path("/s/it's"))])


# ffprobe -v error -show_entries stream=codec_type,duration:format=duration -of json (a phone clip whose
# AAC track runs past its video)
PHONE_CLIP = """{
    "programs": [],
    "streams": [
        {"codec_type": "video", "duration": "9.966667"},
        {"codec_type": "audio", "duration": "10.069333"}
    ],
    "format": {"duration": "10.069333"}
}"""


def test_audio_outlasting_video_ends_the_item_at_the_video() -> None:
    probed = parse_probe(json.loads(PHONE_CLIP))
    assert probed == Probe(duration_s=10.069333, video_s=9.966667, audio_s=10.069333)
    assert probed.outpoint_s == 9.966667
    assert probed.played_s == 9.966667


def test_no_outpoint_when_the_tracks_end_together_or_lengths_are_unknown() -> None:
    even = Probe(10.0, 10.0, 10.0)
    assert (even.outpoint_s, even.played_s) == (None, 10.0)
    # Matroska keeps stream durations in tags: ffprobe then gives none per stream.
    mkv = parse_probe(
        {"streams": [{"codec_type": "video"}, {"codec_type": "audio"}], "format": {"duration": "5"}}
    )
    assert (mkv.outpoint_s, mkv.played_s) == (None, 5.0)
    assert parse_probe({}) == Probe(None, None, None, has_video=False, has_audio=False)


def test_a_missing_or_failing_ffprobe_gives_no_probe(tmp_path: Path) -> None:
    assert probe(str(tmp_path / "no-ffprobe"), tmp_path / "x.mp4") is None
    assert probe("false", tmp_path / "x.mp4") is None
