"""The test media, made once with ffmpeg and kept under build/bench/ so that a rerun starts at once: a
stream-ready 1080p30 clip (H.264 High, closed 2 s GOP, AAC-LC 48 kHz stereo, as the conform step makes),
and stream copies of it about 10 MB and 2 GB long."""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BUILD_DIR

CLIP_SECONDS = 30
VIDEO_BITRATE = "6000k"  # what YouTube asks for 1080p30
SMALL_BYTES = 10 * 1000**2
LARGE_BYTES = 2 * 1000**3
DISK_MARGIN_BYTES = 1024**3


@dataclass(frozen=True)
class Media:
    clip: Path  # CLIP_SECONDS long
    small: Path  # about SMALL_BYTES
    large: Path  # about LARGE_BYTES


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _cached(path: Path, make: list[str]) -> Path:
    """Makes `path` with ffmpeg (`make` ends before the output) unless a finished one is there."""
    if path.is_file():
        return path
    partial = path.with_name(f"{path.stem}.part{path.suffix}")
    _ffmpeg(*make, str(partial))
    partial.rename(path)
    return path


def _seconds_for(clip: Path, size_bytes: int) -> float:
    return size_bytes / (clip.stat().st_size / CLIP_SECONDS)


def youtube_clip() -> Path:
    """The stream-ready 1080p30 clip at the bitrate YouTube asks for (CLIP_SECONDS long)."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    return _cached(
        BUILD_DIR / f"clip-1080p30-{CLIP_SECONDS}s.mp4",
        [
            "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={CLIP_SECONDS}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={CLIP_SECONDS}",
            "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-b:v", VIDEO_BITRATE, "-maxrate", VIDEO_BITRATE, "-bufsize", "12000k",
            "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-flags", "+cgop",
            "-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-ac", "2", "-shortest",
        ],
    )  # fmt: skip


def prepare() -> Media:
    clip = youtube_clip()
    # Stream copies, so the three differ only in length; the mp4 muxer's default puts the index (moov) at
    # the end, as in most uploads, which the reader must seek to before the first frame.
    small = _cached(
        BUILD_DIR / "small-10MB.mp4",
        ["-i", str(clip), "-t", f"{_seconds_for(clip, SMALL_BYTES):.3f}", "-c", "copy"],
    )
    large_path = BUILD_DIR / "large-2GB.mp4"
    if not large_path.is_file():
        free = shutil.disk_usage(BUILD_DIR).free
        if free < LARGE_BYTES + DISK_MARGIN_BYTES:
            raise SystemExit(
                f"the 2 GB test file needs {LARGE_BYTES + DISK_MARGIN_BYTES} bytes free, {free} are"
            )
    seconds = math.ceil(_seconds_for(clip, LARGE_BYTES))
    large = _cached(large_path, ["-stream_loop", "-1", "-i", str(clip), "-t", str(seconds), "-c", "copy"])
    return Media(clip, small, large)
