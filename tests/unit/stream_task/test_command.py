"""The readers' and pushers' ffmpeg command lines, and reading ffprobe's answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_task.command import (
    INGEST_PROTOCOLS,
    IngestTarget,
    escape_tee,
    ingest_target,
    rtmp_app_and_playpath,
)
from stream_task.outputs import pusher_argv
from stream_task.probe import Probe, parse_probe, probe
from stream_task.reader import Part, reader_argv

URL = "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl"


def test_a_pusher_reads_flv_from_its_pipe_and_may_only_speak_rtmp() -> None:
    target = ingest_target(URL)
    argv = pusher_argv("ffmpeg", target.address, "/dev/fd/5")
    assert argv[argv.index("-i") + 1] == "pipe:0"
    assert argv[argv.index("-i") - 1] == "flv"  # the input's demuxer, forced
    whitelists = [argv[i + 1] for i, a in enumerate(argv) if a == "-protocol_whitelist"]
    assert whitelists == ["pipe", INGEST_PROTOCOLS]  # the input's, then the output's
    assert argv[argv.index("-format_whitelist") + 1] == "flv"
    assert "file" not in INGEST_PROTOCOLS.split(",")
    assert argv[argv.index("-c") + 1] == "copy"
    assert argv[-3:] == ["-fpre", "/dev/fd/5", "rtmp://a.rtmp.youtube.com"]


@pytest.mark.parametrize(
    ("url", "address", "app", "playpath"),
    [
        (URL, "rtmp://a.rtmp.youtube.com", "live2", "abcd-efgh-ijkl"),
        (
            "rtmps://a.rtmps.youtube.com:443/live2/x7k-2mq9-pp0e",
            "rtmps://a.rtmps.youtube.com:443",
            "live2",
            "x7k-2mq9-pp0e",
        ),
        # Custom ingests: a key deeper in the path, or carrying a query of its own.
        ("rtmp://ingest.example:1935/app/inst/k3y", "rtmp://ingest.example:1935", "app/inst", "k3y"),
        ("rtmp://ingest.example/live/k3y?token=s3cr3t", "rtmp://ingest.example", "live", "k3y?token=s3cr3t"),
        ("rtmp://ingest.example/live", "rtmp://ingest.example", "live", ""),
    ],
)
def test_an_ingest_url_leaves_its_application_and_key_off_the_command_line(
    url: str, address: str, app: str, playpath: str
) -> None:
    target = ingest_target(url)
    assert target == IngestTarget(address, {"rtmp_app": app, "rtmp_playpath": playpath})
    preset = target.preset().decode()
    assert f"rtmp_app={app}\n" in preset
    assert (f"rtmp_playpath={playpath}\n" in preset) == bool(playpath)  # ffmpeg refuses an empty value
    argv = pusher_argv("ffmpeg", target.address, "/dev/fd/5")
    assert playpath == "" or not any(playpath in arg for arg in argv)


def test_the_application_and_play_path_are_split_as_ffmpegs_rtmp_protocol_splits_them() -> None:
    """rtmpproto.c's rules, so that the ingest sees what it saw when ffmpeg split the whole URL."""
    assert rtmp_app_and_playpath("/live2/key") == ("live2", "key")
    assert rtmp_app_and_playpath("/a/b/c/d") == ("a/b", "c/d")
    assert rtmp_app_and_playpath("/app/mp4:folder/name") == ("app", "mp4:folder/name")
    assert rtmp_app_and_playpath("/vod/clip.mp4") == ("vod", "mp4:clip.mp4")
    assert rtmp_app_and_playpath("/live/name.flv") == ("live", "name")
    assert rtmp_app_and_playpath("/ondemand/a/b") == ("ondemand", "a/b")
    assert rtmp_app_and_playpath("") == ("", "")


def test_a_key_that_would_break_the_preset_file_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be passed"):
        IngestTarget("rtmp://h", {"rtmp_app": "live", "rtmp_playpath": "a\nrtmp_app=other"}).preset()
    with pytest.raises(ValueError, match="cannot be passed"):
        IngestTarget("rtmp://h", {"rtmp_app": "live", "rtmp_playpath": "k" * 990}).preset()


def test_a_reader_copies_the_picture_and_makes_the_sound_as_long_as_it() -> None:
    argv = reader_argv("ffmpeg", Part("/s/000-a", start_s=4.0, duration_s=6.0))
    assert argv[argv.index("-ss") + 1] == "4.000"
    assert argv.index("-ss") < argv.index("-i")  # an input seek: to the keyframe, not a decode
    assert argv[argv.index("-t") + 1] == "6.000"
    assert argv[argv.index("-c:v") + 1] == "copy"
    assert argv[argv.index("-ar") + 1] == "48000"
    assert argv[argv.index("-ac") + 1] == "2"
    assert "apad" in argv[argv.index("-af") + 1]
    assert argv[-3:] == ["-flvflags", "no_duration_filesize", "pipe:1"]
    assert "-reconnect" not in argv
    # A staged file: the file protocol only, read by one of the engine's demuxers (none reads a playlist).
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert argv[argv.index("-format_whitelist") + 1] == "mov,matroska,flv,live_flv,mpegts,avi"


def test_a_reader_of_s3_reconnects_and_one_without_sound_gets_silence() -> None:
    argv = reader_argv("ffmpeg", Part("https://bucket.s3.amazonaws.com/k?X-Amz-Signature=s", has_audio=False))
    assert argv[argv.index("-reconnect") + 1] == "1"
    assert argv[argv.index("-protocol_whitelist") + 1] == "http,https,tcp,tls"  # no file: S3 only
    assert "anullsrc=channel_layout=stereo:sample_rate=48000" in argv
    assert argv[argv.index("-map", argv.index("-map") + 1) + 1] == "1:a:0"
    assert "-ss" not in argv


def test_tee_special_characters_in_a_url_are_escaped() -> None:
    assert escape_tee("rtmp://h/app/a|b[c]d'e\\f") == "rtmp://h/app/a\\|b\\[c\\]d\\'e\\\\f"


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


def test_conformed_sound_is_copied_from_an_items_start_and_encoded_after_a_seek() -> None:
    copied = reader_argv("ffmpeg", Part("/m.mp4", 0.0, 10.0, True, copy_audio=True))
    assert copied[copied.index("-c:a") + 1] == "copy"
    assert "-af" not in copied
    resumed = reader_argv("ffmpeg", Part("/m.mp4", 4.0, 6.0, True, copy_audio=True))
    assert resumed[resumed.index("-c:a") + 1] == "aac"


def test_only_sound_in_the_outputs_form_and_length_counts_as_copyable() -> None:
    def probed(**audio: object) -> Probe:
        stream = {"codec_type": "audio", "codec_name": "aac", "profile": "LC", "sample_rate": "48000"}
        stream |= {"channels": 2, "duration": "10.010"} | audio
        video = {"codec_type": "video", "duration": "10.000"}
        return parse_probe({"streams": [video, stream], "format": {"duration": "10.01"}})

    assert probed().audio_copyable
    assert not probed(sample_rate="44100").audio_copyable
    assert not probed(channels=1).audio_copyable
    assert not probed(profile="HE-AAC").audio_copyable
    assert not probed(codec_name="mp3").audio_copyable
    assert not probed(duration="10.064").audio_copyable  # 64 ms longer than the picture
