"""The conform's decisions, without ffmpeg: the CRF search's choice, where it samples, the output's size and
frame rate, and the x264 arguments that keep keyframes on a 2 s grid."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from stream_task.conform import sample_starts, search_crf, video_args
from stream_task.media_facts import AudioFacts, MediaFacts, VideoFacts
from stream_task.picture import (
    PicturePlan,
    PictureSource,
    house_fps,
    house_size,
    picture_filters,
    plan_picture,
)


@pytest.mark.parametrize(("passes_up_to", "expected"), [(27, 27), (18, 18), (40, 40), (33, 33)])
def test_the_search_takes_the_highest_crf_that_keeps_the_target(passes_up_to: int, expected: int) -> None:
    calls: list[int] = []

    def ssim_at(crf: int) -> float:
        calls.append(crf)
        return 0.975 if crf <= passes_up_to else 0.96

    choice = search_crf(ssim_at, target=0.97, lowest=18, highest=40)
    assert choice.crf == expected
    assert choice.ssim == 0.975
    assert len(calls) <= 6  # bisection over 23 values, not a sweep
    assert len(set(calls)) == len(calls)


def test_when_no_crf_keeps_the_target_the_search_takes_the_lowest() -> None:
    choice = search_crf(lambda crf: 0.9, target=0.97, lowest=18, highest=40)
    assert choice.crf == 18
    assert choice.ssim == 0.9


def test_samples_sit_at_20_50_and_80_percent_of_a_long_file_on_gop_boundaries() -> None:
    assert sample_starts(100.0) == [20.0, 50.0, 80.0]
    assert sample_starts(30.0, 3.0) == [6.0, 14.0, 24.0]
    assert sample_starts(10.0) == [2.0]  # short: one in the middle
    assert sample_starts(2.0) == [0.0]


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (29.87, Fraction(30000, 1001)),  # a phone's variable rate, on average
        (30.0, Fraction(30)),
        (25.0, Fraction(25)),
        (59.94, Fraction(60000, 1001)),
        (120.0, Fraction(60)),  # slow motion, played at most at 60
        (15.0, Fraction(15)),
        (None, Fraction(30)),
    ],
)
def test_the_output_frame_rate_is_the_standard_one_meant(fps: float | None, expected: Fraction) -> None:
    assert house_fps(fps) == expected


@pytest.mark.parametrize(
    ("size", "sar", "expected"),
    [
        ((1919, 1080), Fraction(1), (1920, 1080)),  # odd: padded
        ((1080, 1920), Fraction(1), (1080, 1920)),  # portrait kept
        ((3840, 2160), Fraction(1), (1920, 1080)),  # above level 4.2: scaled
        ((2160, 3840), Fraction(1), (1080, 1920)),
        ((720, 480), Fraction(8, 9), (640, 480)),  # DVD pixels made square
        ((641, 361), Fraction(1), (642, 362)),
    ],
)
def test_the_output_size_is_even_square_and_within_1080p(
    size: tuple[int, int], sar: Fraction, expected: tuple[int, int]
) -> None:
    assert house_size(*size, sample_aspect_ratio=sar) == expected


def _facts(**video: object) -> MediaFacts:
    fields: dict[str, object] = {
        "codec": "hevc",
        "profile": "Main 10",
        "level": 120,
        "pixel_format": "yuv420p10le",
        "width": 1919,
        "height": 1080,
        "rotation": 90,
        "fps": 29.97,
        "constant_fps": True,
        "longest_keyframe_interval_s": 1.0,
        "duration_s": 4.0,
    }
    fields.update(video)
    return MediaFacts(
        duration_s=4.01,
        container="mov,mp4,m4a,3gp,3g2,mj2",
        size_bytes=1000,
        bitrate_bps=1_000_000,
        video=VideoFacts(**fields),  # type: ignore[arg-type]
        audio=AudioFacts("aac", "LC", 44100, 1),
    )


def test_a_rotated_odd_hdr_picture_is_tone_mapped_scaled_upright_and_made_constant(tmp_path: Path) -> None:
    facts = _facts(color_transfer="smpte2084", color_space="bt2020nc", color_primaries="bt2020")
    plan = plan_picture(facts, "clip")
    assert (plan.width, plan.height) == (1080, 1920)  # upright, the odd side padded
    assert plan.fps == Fraction(30000, 1001)
    assert plan.keyint == 59  # whole frames within 2 s
    assert plan.duration_s == pytest.approx(4.0, abs=1 / 29.97)
    chain = picture_filters(facts, plan, tmp_path, constant_rate=True)
    assert "zscale=tin=smpte2084" in chain
    assert "tonemap=tonemap=hable" in chain
    assert "pad=1080:1920" in chain
    assert chain.endswith("fps=30000/1001:start_time=0,tpad=stop=-1:stop_mode=clone")


def test_an_audio_file_without_art_gets_a_card_with_its_title(tmp_path: Path) -> None:
    facts = MediaFacts(4.0, "mp3", 100, 128000, None, AudioFacts("mp3", None, 44100, 2, duration_s=4.0))
    plan = plan_picture(facts, "Morning: a song, 'live'")
    assert plan.source is PictureSource.CARD
    chain = picture_filters(facts, plan, tmp_path, constant_rate=True)
    assert "drawtext" in chain
    assert "expansion=none" in chain
    assert (tmp_path / "card-title.txt").read_text() == "Morning: a song, 'live'"


def test_keyframes_every_2_s_and_no_others() -> None:
    plan = PicturePlan(PictureSource.VIDEO, 1920, 1080, Fraction(30), 10.0, "t")
    argv = video_args(plan, 26, 6000)
    assert argv[argv.index("-g") + 1] == "60"
    assert argv[argv.index("-keyint_min") + 1] == "60"
    assert argv[argv.index("-sc_threshold") + 1] == "0"
    assert argv[argv.index("-maxrate") + 1] == "6000k"
    assert argv[argv.index("-bufsize") + 1] == "12000k"
    assert argv[argv.index("-profile:v") + 1] == "high"
    assert argv[argv.index("-level:v") + 1] == "4.2"


def test_a_variable_rate_plays_at_the_rate_the_camera_aimed_at(tmp_path: Path) -> None:
    facts = _facts(rotation=0, width=320, height=240, fps=14.0, constant_fps=False, peak_fps=30.0)
    plan = plan_picture(facts, "clip")
    assert plan.fps == Fraction(30)
    assert plan.keyint == 60


def test_sound_a_little_longer_is_cut_to_the_picture_much_longer_holds_the_last_picture() -> None:
    audio = AudioFacts("aac", "LC", 48000, 2, duration_s=4.4)
    rounding = MediaFacts(4.4, "mp4", 1, 1, _facts(rotation=0, fps=30.0).video, audio)
    assert plan_picture(rounding, "t").duration_s == pytest.approx(4.0)
    talk = MediaFacts(
        60.0,
        "mp4",
        1,
        1,
        _facts(rotation=0, fps=30.0, duration_s=0.5).video,
        AudioFacts("aac", "LC", 48000, 2, duration_s=60.0),
    )
    assert plan_picture(talk, "t").duration_s == pytest.approx(60.0)


def test_a_picture_that_stops_before_the_talk_is_held_but_sampled_where_it_moves() -> None:
    # A second of picture under 15 s of talk: the conform plays 15 s, its last picture held; its quality
    # samples and the thumbnail come from the second there is (past it there is no frame to seek to).
    facts = _facts(rotation=0, duration_s=1.0)
    facts = MediaFacts(
        duration_s=15.0,
        container=facts.container,
        size_bytes=facts.size_bytes,
        bitrate_bps=facts.bitrate_bps,
        video=facts.video,
        audio=AudioFacts("aac", "LC", 48000, 2, duration_s=15.0),
    )
    plan = plan_picture(facts, "talk")
    assert plan.duration_s == pytest.approx(15.0, abs=1 / 29.97)
    assert plan.moving_s == pytest.approx(1.0)
    assert sample_starts(plan.moving_s, min(3.0, plan.moving_s)) == [0.0]


def test_a_picture_as_long_as_its_sound_is_sampled_over_all_of_it() -> None:
    plan = plan_picture(_facts(), "clip")
    assert plan.picture_s is None
    assert plan.moving_s == plan.duration_s
