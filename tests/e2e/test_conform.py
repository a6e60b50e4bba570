"""The media job's two steps on real files made here with ffmpeg (a few seconds each, small): what the facts
tell a user about each upload, and what the conform makes of the playable ones: H.264 High yuv420p at a
constant rate, a keyframe every 2 s exactly, AAC-LC 48 kHz stereo as long as the picture, upright, even,
as close to the source as SSIM 0.97, and two of them joined by stream copy decode cleanly.

No local mode here: the steps are plain functions over files (the job around them comes later)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from stream_task.conform import TARGET_SSIM, ConformResult, conform, sample_ssim
from stream_task.media_facts import MediaFacts, MediaRejected, read_media_facts
from stream_task.picture import write_thumbnail
from stream_task.probe import AAC_FRAME_S
from tests.e2e import media_files

pytestmark = pytest.mark.xdist_group("conform")  # beside the local-mode e2e tests, on its own worker

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
SECONDS = media_files.SECONDS
OVERHANG = media_files.SOUND_OVERHANG_S  # the sound outlasts the picture, as in most real files


@dataclass(frozen=True)
class Playable:
    make: Callable[[Path], object]
    duration_s: float  # what a user sees as the length
    shown: tuple[int, int] | None  # the picture's size as shown, None for an audio file
    source_ready: bool = False


PLAYABLE: dict[str, Playable] = {
    "hevc-10bit-portrait.mp4": Playable(media_files.hevc_10bit_portrait, SECONDS, (180, 320)),
    "vp9.webm": Playable(media_files.vp9_webm, SECONDS + OVERHANG, (320, 240)),
    "variable-rate.mp4": Playable(media_files.variable_rate, SECONDS + OVERHANG, (320, 240)),
    "mono-44k.mp4": Playable(media_files.mono_44k, SECONDS, (320, 240)),
    "cover.mp3": Playable(media_files.mp3_with_cover, SECONDS + OVERHANG, None),
    "card.mp3": Playable(media_files.mp3_without_cover, SECONDS + OVERHANG, None),
    "odd-width.mp4": Playable(media_files.odd_width, SECONDS, (321, 240)),
    "hdr-pq.mp4": Playable(media_files.hdr_pq, SECONDS, (320, 240)),
    "prores.mov": Playable(media_files.prores, SECONDS, (320, 240)),
    "mpeg2-interlaced.ts": Playable(media_files.mpeg2_interlaced, SECONDS, (352, 288)),
    "av1.mkv": Playable(media_files.av1, SECONDS, (320, 240)),
    "picture-stops-talk-goes-on.mp4": Playable(media_files.picture_stops_talk_goes_on, 4.0, (320, 240)),
}

REFUSED: dict[str, tuple[Callable[[Path], object], str]] = {
    "truncated-index-at-end.mp4": (media_files.truncated_mp4, "incomplete"),
    "truncated-index-in-front.mp4": (
        lambda path: media_files.truncated_mp4(path, index_in_front=True),
        "incomplete",
    ),
    "document.mp4": (media_files.renamed_pdf, "PDF document"),
    "zero.mp4": (media_files.zero_bytes, "empty (0 bytes)"),
}


@dataclass
class Conformed:
    source: Path
    facts: MediaFacts
    output: Path
    result: ConformResult
    progress: list[float]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conform")


@pytest.fixture(scope="module")
def conformed(work: Path) -> Callable[[str], Conformed]:
    """Each playable file made and conformed once, on first use."""
    done: dict[str, Conformed] = {}

    def get(name: str) -> Conformed:
        if name not in done:
            source = work / name
            PLAYABLE[name].make(source)
            facts = read_media_facts(FFPROBE, FFMPEG, source)
            progress: list[float] = []
            output = work / f"{source.stem}.conformed.mp4"
            result = conform(FFMPEG, FFPROBE, source, output, facts=facts, on_progress=progress.append)
            done[name] = Conformed(source, facts, output, result, progress)
        return done[name]

    return get


def _packets(path: Path, stream: str) -> list[dict[str, Any]]:
    document = json.loads(
        subprocess.run(
            [FFPROBE, "-v", "error", "-select_streams", stream, "-show_entries",
             "packet=pts_time,flags", "-of", "json", str(path)],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    packets: list[dict[str, Any]] = document.get("packets") or []
    return packets


@pytest.mark.parametrize("name", list(PLAYABLE))
def test_the_facts_tell_what_a_user_would_notice(name: str, conformed: Callable[[str], Conformed]) -> None:
    case, item = PLAYABLE[name], conformed(name)
    facts = item.facts
    assert facts.duration_s == pytest.approx(case.duration_s, abs=0.1)
    assert facts.stream_ready is case.source_ready, facts.not_stream_ready_because
    if case.shown is None:
        assert facts.video is None
    else:
        assert facts.video is not None
        assert (facts.video.display_width, facts.video.display_height) == case.shown
    if name == "hevc-10bit-portrait.mp4":
        assert facts.video is not None
        assert (facts.video.codec, facts.video.pixel_format) == ("hevc", "yuv420p10le")
        assert facts.video.rotation in (90, 270)  # a quarter turn (ffmpeg 5.1's muxer picks the sense)
    if name == "variable-rate.mp4":
        assert facts.video is not None
        assert not facts.video.constant_fps
    if name == "hdr-pq.mp4":
        assert facts.video is not None
        assert facts.video.hdr
    if name == "cover.mp3":
        assert facts.has_cover_art
        assert facts.title == "Morning Song"


@pytest.mark.parametrize("name", list(PLAYABLE))
def test_the_conformed_file_is_in_the_house_profile(name: str, conformed: Callable[[str], Conformed]) -> None:
    item = conformed(name)
    out = item.result.output
    assert out.stream_ready, out.not_stream_ready_because
    video, audio = out.video, out.audio
    assert video is not None
    assert audio is not None
    assert (video.codec, video.profile, video.pixel_format) == ("h264", "High", "yuv420p")
    assert video.level is not None
    assert video.level <= 42
    assert video.constant_fps
    assert video.width % 2 == 0
    assert video.height % 2 == 0
    assert video.rotation == 0  # neither a display matrix nor a rotate tag left
    assert (audio.codec, audio.profile, audio.sample_rate, audio.channels) == ("aac", "LC", 48000, 2)
    assert out.timing.video_s is not None
    assert out.timing.audio_s is not None
    assert abs(out.timing.audio_s - out.timing.video_s) <= AAC_FRAME_S + 1e-6
    source = item.facts
    picture_s = source.video.duration_s if source.video else None
    if name == "picture-stops-talk-goes-on.mp4":
        picture_s = None  # the last picture held to the end of the talk
    assert out.duration_s == pytest.approx(picture_s or source.duration_s, abs=0.05)  # sound cut to picture
    shown = PLAYABLE[name].shown
    if shown is not None:
        assert (video.width, video.height) == (shown[0] + shown[0] % 2, shown[1] + shown[1] % 2)
    packets = _packets(item.output, "v:0")
    keyframes = [float(p["pts_time"]) for p in packets if "K" in p["flags"]]
    assert keyframes[0] == pytest.approx(0.0, abs=1e-3)
    assert all(later - earlier == pytest.approx(2.0, abs=1e-3) for earlier, later in pairwise(keyframes))
    assert len(keyframes) == math.ceil(out.timing.video_s / 2 - 1e-3)  # none between the 2 s marks
    assert item.progress[-1] == 100.0
    assert item.progress == sorted(item.progress)
    assert item.result.ssim >= TARGET_SSIM or item.result.crf == 18


@pytest.mark.parametrize("name", list(PLAYABLE))
def test_the_conformed_picture_keeps_the_source_within_ssim_0_97(
    name: str, conformed: Callable[[str], Conformed]
) -> None:
    item = conformed(name)
    # The whole file's encode, measured where the search sampled it: what the search promised, kept.
    assert sample_ssim(FFMPEG, FFPROBE, item.source, item.facts, item.output) >= TARGET_SSIM


def test_the_portrait_phone_clip_comes_out_upright(conformed: Callable[[str], Conformed]) -> None:
    video = conformed("hevc-10bit-portrait.mp4").result.output.video
    assert video is not None
    assert video.width < video.height


def test_the_hdr_clip_comes_out_sdr(conformed: Callable[[str], Conformed]) -> None:
    video = conformed("hdr-pq.mp4").result.output.video
    assert video is not None
    assert not video.hdr
    assert (video.color_transfer, video.color_primaries, video.color_space) == ("bt709", "bt709", "bt709")


def test_the_interlaced_mpeg2_clip_comes_out_progressive(conformed: Callable[[str], Conformed]) -> None:
    item = conformed("mpeg2-interlaced.ts")
    assert item.facts.video is not None
    assert item.facts.video.interlaced
    assert item.result.output.video is not None
    assert not item.result.output.video.interlaced


def test_two_conformed_files_join_by_stream_copy_and_decode_cleanly(
    work: Path, conformed: Callable[[str], Conformed]
) -> None:
    first, second = conformed("vp9.webm"), conformed("mono-44k.mp4")
    listing = work / "join.txt"
    listing.write_text(f"file '{first.output}'\nfile '{second.output}'\n")
    joined = work / "joined.mp4"
    media_files.ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(joined))
    # ffprobe decodes every frame and says if one fails (ffmpeg's null output would also complain of the
    # second item's frame rate, which is no decoding error).
    decode = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
         "-of", "csv=p=0", str(joined)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert decode.returncode == 0, decode.stderr
    assert decode.stderr.strip() == ""
    frames = [first.result.output, second.result.output]
    assert len(decode.stdout.split()) == sum(
        round(o.duration_s * (o.video.fps or 0)) for o in frames if o.video
    )
    total = first.result.output.duration_s + second.result.output.duration_s
    assert read_media_facts(FFPROBE, FFMPEG, joined).duration_s == pytest.approx(total, abs=0.05)


@pytest.mark.parametrize("name", ["hevc-10bit-portrait.mp4", "cover.mp3", "card.mp3"])
def test_a_thumbnail_is_a_webp_320_pixels_wide(
    name: str, work: Path, conformed: Callable[[str], Conformed]
) -> None:
    item = conformed(name)
    thumbnail = write_thumbnail(
        FFMPEG, item.source, item.facts, work / f"{name}.webp", work, title=item.source.stem
    )
    facts = json.loads(
        subprocess.run(
            [FFPROBE, "-v", "error", "-show_entries", "stream=codec_name,width,height",
             "-of", "json", str(thumbnail)],
            capture_output=True, text=True, check=True,
        ).stdout
    )["streams"][0]  # fmt: skip
    assert facts["codec_name"] == "webp"
    assert facts["width"] == 320
    if name == "hevc-10bit-portrait.mp4":
        assert facts["height"] > 320  # upright


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_file_nobody_can_play_is_refused_with_a_reason(name: str, work: Path) -> None:
    make, words = REFUSED[name]
    path = work / name
    make(path)
    with pytest.raises(MediaRejected) as refused:
        read_media_facts(FFPROBE, FFMPEG, path)
    assert words in refused.value.reason
    assert "ffprobe" not in refused.value.reason
