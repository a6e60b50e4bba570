"""Awkward media files made with ffmpeg, small and short, as users upload them: a phone's portrait HEVC, VP9
in WebM, a variable frame rate, 44.1 kHz mono sound, an MP3 with or without cover art, an odd width, HDR,
ProRes, interlaced MPEG-2, AV1, files cut short, and bytes that are no media at all.

Each maker writes `path` and returns it; the sound of most outlasts their picture by SOUND_OVERHANG_S, as in
most real files (the conform cuts it to the picture). Shared by the conform's tests (test_conform.py) and
the media library's, through local mode (test_media_library.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
SECONDS = 5.0
SOUND_OVERHANG_S = 0.4
SMALL = "320x240"
PDF_BYTES = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 50


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def picture(size: str = SMALL, rate: int = 30, seconds: float = SECONDS) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


def tone(rate: int = 48000, seconds: float = SECONDS + SOUND_OVERHANG_S) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}"]


def hevc_10bit_portrait(path: Path, seconds: float = SECONDS) -> Path:
    """A phone's portrait clip: HEVC 10-bit stored landscape (320x180), a display matrix to turn it."""
    landscape = path.with_name(f"{path.stem}-landscape.mp4")
    ffmpeg(
        *picture("320x180", seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S),
        "-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error",
        "-c:a", "aac", "-shortest", str(landscape),
    )  # fmt: skip
    # ffmpeg 5.1 drops a rotate tag when encoding; a remux by copy writes it as the display matrix.
    ffmpeg("-i", str(landscape), "-c", "copy", "-metadata:s:v", "rotate=90", str(path))
    landscape.unlink()
    return path


def vp9_webm(path: Path, seconds: float = SECONDS) -> Path:
    """VP9 at 25 fps and Opus in WebM."""
    ffmpeg(
        *picture(rate=25, seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S),
        "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "400k",
        "-c:a", "libopus", str(path),
    )  # fmt: skip
    return path


def variable_rate(path: Path, seconds: float = SECONDS) -> Path:
    """30 fps for a second, then every third frame: what a phone does when the light drops."""
    ffmpeg(
        *picture(seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S),
        "-vf", "select='lt(n\\,30)+not(mod(n\\,3))'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def mono_44k(path: Path, seconds: float = SECONDS) -> Path:
    """H.264 with 2 s keyframes, its sound AAC 44.1 kHz mono (stream-ready but for the channels)."""
    ffmpeg(
        *picture(seconds=seconds), *tone(44100, seconds + SOUND_OVERHANG_S),
        "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-sc_threshold", "0",
        "-c:a", "aac", "-ac", "1", "-shortest", str(path),
    )  # fmt: skip
    return path


def mp3_with_cover(path: Path, seconds: float = SECONDS) -> Path:
    """Sound only, with a 300x300 cover picture and a title tag ("Morning Song")."""
    cover = path.with_name(f"{path.stem}-cover.png")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=300x300:rate=1", "-frames:v", "1", str(cover))
    ffmpeg(
        *tone(44100, seconds + SOUND_OVERHANG_S), "-i", str(cover), "-map", "0:a", "-map", "1:v",
        "-c:a", "libmp3lame", "-b:a", "128k", "-c:v", "png", "-disposition:v", "attached_pic",
        "-id3v2_version", "3", "-metadata", "title=Morning Song", str(path),
    )  # fmt: skip
    cover.unlink()
    return path


def mp3_without_cover(path: Path, seconds: float = SECONDS) -> Path:
    ffmpeg(
        *tone(44100, seconds + SOUND_OVERHANG_S),
        "-c:a", "libmp3lame", "-b:a", "96k", "-metadata", "title=Evening: a talk", str(path),
    )  # fmt: skip
    return path


def odd_width(path: Path, seconds: float = SECONDS) -> Path:
    """321x240: 4:4:4 H.264 allows an odd size; 4:2:0, which the house profile is, does not."""
    ffmpeg(
        *picture(seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S), "-vf", "scale=321:240,setsar=1",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv444p",
        "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return path


def hdr_pq(path: Path, seconds: float = SECONDS) -> Path:
    ffmpeg(
        *picture(seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S),
        "-vf", "format=yuv420p10le",
        "-c:v", "libx265", "-pix_fmt", "yuv420p10le",
        "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
        "-x265-params", "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
        "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return path


def prores(path: Path, seconds: float = SECONDS) -> Path:
    ffmpeg(
        *picture(seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S),
        "-c:v", "prores_ks", "-profile:v", "0", "-c:a", "pcm_s16le", "-shortest", str(path),
    )  # fmt: skip
    return path


def mpeg2_interlaced(path: Path, seconds: float = SECONDS) -> Path:
    ffmpeg(
        *picture("352x288", rate=25, seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S),
        "-c:v", "mpeg2video", "-b:v", "2M", "-flags", "+ilme+ildct", "-top", "1",
        "-c:a", "mp2", "-shortest", "-f", "mpegts", str(path),
    )  # fmt: skip
    return path


def av1(path: Path, seconds: float = SECONDS) -> Path:
    ffmpeg(
        *picture(seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S),
        "-c:v", "libsvtav1", "-preset", "12", "-c:a", "libopus", "-shortest", str(path),
    )  # fmt: skip
    return path


def picture_stops_talk_goes_on(path: Path, seconds: float = 4.0) -> Path:
    """A second of picture under `seconds` of sound."""
    ffmpeg(*picture(seconds=1), *tone(seconds=seconds), "-c:v", "libx264", "-c:a", "aac", str(path))
    return path


def plain_mp4(path: Path, seconds: float = SECONDS, *, index_in_front: bool = False) -> Path:
    """H.264 + AAC in mp4, its index (moov) at the end as ffmpeg writes it, or in front (faststart)."""
    ffmpeg(
        *picture(seconds=seconds), *tone(seconds=seconds + SOUND_OVERHANG_S),
        "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-shortest",
        *(["-movflags", "+faststart"] if index_in_front else []), str(path),
    )  # fmt: skip
    return path


def truncated_mp4(path: Path, seconds: float = SECONDS, *, index_in_front: bool = False) -> Path:
    """The first half of a plain mp4: an upload or an export cut short."""
    whole = plain_mp4(path.with_name(f"{path.stem}-whole.mp4"), seconds, index_in_front=index_in_front)
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()
    return path


def renamed_pdf(path: Path) -> Path:
    """A PDF document under a video's name."""
    path.write_bytes(PDF_BYTES)
    return path


def zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path
