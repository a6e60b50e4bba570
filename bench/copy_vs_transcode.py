"""Conform once, copy forever: CPU-seconds to push a clip with stream copy (what the stream task does with
stream-ready media) against a live transcode (what a naive restreamer does), measured side by side.

Both outputs go to FLV in a scratch file as fast as ffmpeg can go (no -re), so CPU time is the measure and
the machine's noise hits both alike; the runs alternate and the ratio of medians is reported.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROUNDS = 3
CLIP_SECONDS = 20


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str]) -> tuple[float, float]:
    cpu_before, wall_before = _children_cpu_s(), time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _children_cpu_s() - cpu_before, time.perf_counter() - wall_before


def make_clip(path: Path) -> None:
    """A stream-ready 720p30 clip: H.264 yuv420p, keyframe every 2 s, AAC-LC 48 kHz stereo."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={CLIP_SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={CLIP_SECONDS}",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-b:v", "3000k",
         "-c:a", "aac", "-ac", "2", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="playout-bench-") as scratch:
        clip = Path(scratch) / "clip.mp4"
        sink = Path(scratch) / "out.flv"
        make_clip(clip)
        base = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(clip)]
        copy = [*base, "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-f", "flv", str(sink)]
        transcode = [
            *base, "-map", "0:v:0", "-map", "0:a:0",
            "-c:v", "libx264", "-preset", "veryfast",
            "-b:v", "3000k", "-maxrate", "3000k", "-bufsize", "6000k",
            "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(sink),
        ]  # fmt: skip
        copy_cpu, transcode_cpu = [], []
        for _ in range(ROUNDS):
            copy_cpu.append(_run(copy)[0])
            transcode_cpu.append(_run(transcode)[0])
    copy_s, transcode_s = statistics.median(copy_cpu), statistics.median(transcode_cpu)
    print(
        f"copy_vs_transcode: {CLIP_SECONDS} s of 720p30, median of {ROUNDS}: "
        f"stream copy {copy_s:.2f} CPU-s, live transcode {transcode_s:.2f} CPU-s, "
        f"ratio copy/transcode = {copy_s / transcode_s:.3f} (1/{transcode_s / max(copy_s, 1e-3):.0f})"
    )


if __name__ == "__main__":
    main()
