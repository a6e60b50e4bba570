"""Reading ffprobe's answer into media facts, and the rules for streaming a file as it is: literal ffprobe
documents, no ffmpeg, no sockets."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stream_task.media_facts import (
    PACKET_SAMPLE_S,
    MediaRejected,
    frame_timing,
    parse_media_facts,
    youtube_max_video_kbps,
)
from stream_task.media_job import played_s


def _packets(fps: float, seconds: float, gop_s: float, stream_index: int = 0) -> list[dict[str, Any]]:
    frames = round(fps * seconds)
    per_gop = round(fps * gop_s)
    return [
        {
            "stream_index": stream_index,
            "pts_time": f"{n / fps:.6f}",
            "flags": "K__" if n % per_gop == 0 else "___",
        }
        for n in range(frames)
    ]


READY: dict[str, Any] = {
    "streams": [
        {
            "index": 0,
            "codec_name": "h264",
            "profile": "High",
            "codec_type": "video",
            "width": 1920,
            "height": 1080,
            "pix_fmt": "yuv420p",
            "level": 40,
            "field_order": "progressive",
            "sample_aspect_ratio": "1:1",
            "r_frame_rate": "30/1",
            "avg_frame_rate": "30/1",
            "duration": "10.000000",
            "bit_rate": "4000000",
            "disposition": {"attached_pic": 0},
        },
        {
            "index": 1,
            "codec_name": "aac",
            "profile": "LC",
            "codec_type": "audio",
            "sample_rate": "48000",
            "channels": 2,
            "duration": "10.005333",
            "bit_rate": "128000",
            "disposition": {"attached_pic": 0},
        },
    ],
    "format": {
        "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
        "duration": "10.005333",
        "size": "5160000",
        "bit_rate": "4130000",
        "tags": {"title": "Sunset"},
    },
    "packets": _packets(30, 10, 2),
}


def _changed(**video: Any) -> dict[str, Any]:
    document = copy.deepcopy(READY)
    document["streams"][0].update(video)
    return document


def test_a_youtube_ready_file_streams_as_it_is() -> None:
    facts = parse_media_facts(READY)
    assert facts.stream_ready, facts.not_stream_ready_because
    assert facts.duration_s == pytest.approx(10.005333)
    assert facts.title == "Sunset"
    assert facts.video is not None
    assert facts.video.longest_keyframe_interval_s == pytest.approx(2.0)
    assert facts.video.constant_fps
    assert facts.timing.video_s == pytest.approx(10.0)  # the player's view of the same answer


@pytest.mark.parametrize(
    ("video", "reason"),
    [
        ({"codec_name": "hevc", "profile": "Main 10"}, "HEVC, not H.264"),
        ({"level": 51}, "level is above 4.2"),
        ({"pix_fmt": "yuv420p10le"}, "yuv420p10le, not yuv420p"),
        ({"width": 1279}, "odd"),
        ({"color_transfer": "arib-std-b67"}, "HDR"),
        ({"field_order": "tt"}, "interlaced"),
        ({"bit_rate": "20000000"}, "above YouTube's 6 Mbps"),
    ],
)
def test_a_file_off_the_house_profile_needs_a_conform_and_says_why(
    video: dict[str, Any], reason: str
) -> None:
    facts = parse_media_facts(_changed(**video))
    assert not facts.stream_ready
    assert any(reason in text for text in facts.not_stream_ready_because), facts.not_stream_ready_because


def test_a_phone_held_upright_is_turned_and_its_size_read_as_shown() -> None:
    document = _changed(side_data_list=[{"side_data_type": "Display Matrix", "rotation": -90}])
    facts = parse_media_facts(document)
    assert facts.video is not None
    assert facts.video.rotation == 90
    assert (facts.video.display_width, facts.video.display_height) == (1080, 1920)
    assert "turned 90°" in " ".join(facts.not_stream_ready_because)
    tagged = parse_media_facts(_changed(tags={"rotate": "270"}))
    assert tagged.video is not None
    assert tagged.video.rotation == 270


def test_keyframes_far_apart_and_a_varying_frame_rate_need_a_conform() -> None:
    document = copy.deepcopy(READY)
    document["packets"] = _packets(30, 10, 5)
    assert "5.0 s apart" in " ".join(parse_media_facts(document).not_stream_ready_because)
    jittery = copy.deepcopy(READY)
    times = [0.0, 0.033, 0.066, 0.133, 0.166, 0.2, 0.3, 0.333]
    jittery["packets"] = [
        {"stream_index": 0, "pts_time": str(t), "flags": "K__" if t == 0 else "___"} for t in times
    ]
    facts = parse_media_facts(jittery)
    assert facts.video is not None
    assert not facts.video.constant_fps
    assert "frame rate varies" in " ".join(facts.not_stream_ready_because)


def test_sound_other_than_aac_stereo_needs_a_conform() -> None:
    document = copy.deepcopy(READY)
    document["streams"][1].update(sample_rate="44100", channels=1)
    assert "stereo" in " ".join(parse_media_facts(document).not_stream_ready_because)
    document["streams"][1].update(codec_name="opus", profile=None)
    assert "OPUS, not AAC-LC" in " ".join(parse_media_facts(document).not_stream_ready_because)
    silent = copy.deepcopy(READY)
    del silent["streams"][1]
    assert "no sound" in " ".join(parse_media_facts(silent).not_stream_ready_because)


def test_an_mp3_with_cover_art_has_no_picture_to_copy_but_has_its_art() -> None:
    document = {
        "streams": [
            {"index": 0, "codec_type": "audio", "codec_name": "mp3", "sample_rate": "44100", "channels": 2},
            {"index": 1, "codec_type": "video", "codec_name": "mjpeg", "width": 500, "height": 500,
             "disposition": {"attached_pic": 1}},
        ],
        "format": {"format_name": "mp3", "duration": "4.0", "tags": {"title": "Song"}},
    }  # fmt: skip
    facts = parse_media_facts(document)
    assert facts.video is None
    assert facts.has_cover_art
    assert facts.not_stream_ready_because == ("it has no picture",)


def test_webm_millisecond_timestamps_are_a_constant_rate() -> None:
    packets = [(round(n / 30, 3), n % 60 == 0) for n in range(300)]
    timing = frame_timing(packets)
    assert timing.constant_fps
    assert timing.longest_keyframe_interval_s == pytest.approx(2.0, abs=0.002)


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"streams": [], "format": {"format_name": "mp4", "duration": "3.0"}}, "neither picture nor sound"),
        (
            {
                "streams": [
                    {"index": 0, "codec_type": "video", "codec_name": "png", "width": 10, "height": 10}
                ],
                "format": {"format_name": "png_pipe"},
            },
            "still picture",
        ),
        (
            {
                "streams": [{"index": 0, "codec_type": "audio", "codec_name": "aac"}],
                "format": {"format_name": "aac"},
            },
            "no length",
        ),
    ],
)
def test_a_file_with_nothing_to_play_is_refused_in_plain_words(document: dict[str, Any], words: str) -> None:
    with pytest.raises(MediaRejected, match=words):
        parse_media_facts(document)


@pytest.mark.parametrize(
    ("width", "height", "fps", "kbps"),
    [
        (1920, 1080, 30, 6000),
        (1920, 1080, 60, 9000),
        (1080, 1920, 29.97, 6000),  # portrait: its short side makes it 1080p
        (1280, 720, 30, 4000),
        (1280, 720, 59.94, 6000),
        (854, 480, 30, 2000),
        (640, 360, 60, 1000),
        (426, 240, 30, 700),
        (2560, 1440, 30, 13000),
        (3840, 2160, 60, 51000),
    ],
)
def test_youtube_caps_the_bitrate_by_size_and_frame_rate(
    width: int, height: int, fps: float, kbps: int
) -> None:
    assert youtube_max_video_kbps(width, height, fps) == kbps


def test_a_hole_at_each_seam_of_a_looped_file_is_not_a_varying_rate() -> None:
    frames = [n / 30 + 0.016 * (n // 900) for n in range(2700)]  # 16 ms lost at each 30 s seam
    timing = frame_timing([(pts, n % 60 == 0) for n, pts in enumerate(frames)])
    assert timing.constant_fps
    assert timing.longest_keyframe_interval_s == pytest.approx(2.016, abs=0.001)


def test_a_media_lasts_as_long_as_a_stream_plays_it_its_pictures_length() -> None:
    assert played_s(parse_media_facts(READY)) == pytest.approx(10.0)  # the sound's extra 5 ms is not played
    without_stream_lengths = copy.deepcopy(READY)
    for stream in without_stream_lengths["streams"]:
        del stream["duration"]  # as in a WebM: then the container's length
    assert played_s(parse_media_facts(without_stream_lengths)) == pytest.approx(10.005333)


def test_a_variable_rate_picture_lasts_until_its_last_frame_ends_whatever_its_container_counts() -> None:
    # A phone clip: 30 fps for a second, then 10 fps; its mp4 counts 3.8 s (decode times, B-frames).
    pts = [n / 30 for n in range(30)] + [1 + n / 10 for n in range(30)]
    document = _changed(duration="3.800000", avg_frame_rate="75/4", start_time="0.000000")
    document["format"]["duration"] = "4.400000"
    document["packets"] = [
        {"stream_index": 0, "pts_time": f"{t:.6f}", "flags": "K__" if n % 30 == 0 else "___"}
        for n, t in enumerate(pts)
    ]
    video = parse_media_facts(document).video
    assert video is not None
    assert video.duration_s == pytest.approx(4.0)  # its last frame, at 3.9 s, lasts 0.1 s as the ones before
    assert parse_media_facts(READY).video.duration_s == pytest.approx(10.0)  # type: ignore[union-attr]

    # Frames an edit list leaves out come before the stream's start: they do not lengthen it.
    trimmed = copy.deepcopy(document)
    trimmed["packets"][:0] = [{"stream_index": 0, "pts_time": "-0.066667", "flags": "K__"}]
    assert parse_media_facts(trimmed).video.duration_s == pytest.approx(4.0)  # type: ignore[union-attr]

    # Packets are read for the first PACKET_SAMPLE_S only: a longer file keeps its container's length.
    longer = copy.deepcopy(document)
    longer["format"]["duration"] = str(PACKET_SAMPLE_S + 1)
    assert parse_media_facts(longer).video.duration_s == pytest.approx(3.8)  # type: ignore[union-attr]
