"""Conform once, copy forever: what the conform costs and what it saves, on the bench's 1080p30 clip.

- speed: the whole conform (facts, CRF search on samples, the encode, the output's facts) on one core
  (the process and its ffmpegs pinned to one CPU), as x realtime;
- bits: the video bitrate it chose for SSIM >= 0.97 against the clip, which is YouTube's recommended
  6 Mbps for 1080p30 (bench/media.py makes it so), and the egress that saves per stream-hour at $0.09/GB.

`python -m bench.conform` runs it alone; `python -m bench` runs it after the memory runs, so that its one
core is not shared with them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import media
from bench.egress import saving, usd_per_stream_hour
from bench.harness import one_core
from bench.media import Media
from bench.report import Figure, table
from stream_task.conform import (
    SEARCH_MARGIN,
    TARGET_SSIM,
    cap_kbps_for,
    conform,
    make_reference,
    search_crf,
    ssim_between,
    video_args,
)
from stream_task.media_facts import read_media_facts
from stream_task.picture import plan_picture

YOUTUBE_1080P30_KBPS = 6000


def measure(files: Media) -> list[Figure]:
    ffmpeg, ffprobe = shutil.which("ffmpeg") or "ffmpeg", shutil.which("ffprobe") or "ffprobe"
    facts = read_media_facts(ffprobe, ffmpeg, files.clip)
    workdir = Path(tempfile.mkdtemp(prefix="bench-conform-"))
    try:
        with one_core():
            started, cpu_started = time.monotonic(), os.times()
            result = conform(ffmpeg, ffprobe, files.clip, workdir / "conformed.mp4", facts=facts)
            wall_s = time.monotonic() - started
            cpu_ended = os.times()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    children_cpu_s = (cpu_ended.children_user + cpu_ended.children_system) - (
        cpu_started.children_user + cpu_started.children_system
    )
    speed = facts.duration_s / wall_s
    ours_kbps = (result.video_bitrate_bps or 0) / 1000
    saved_pct = saving(ours_kbps, YOUTUBE_1080P30_KBPS).pct
    ours_usd, youtube_usd = usd_per_stream_hour(ours_kbps), usd_per_stream_hour(YOUTUBE_1080P30_KBPS)
    details = {
        "clip": files.clip.name,
        "preset": result.preset,
        "crf": result.crf,
        "ssim": round(result.ssim, 4),
        "crf_tried": {str(crf): round(ssim, 4) for crf, ssim in sorted(result.crf_tried.items())},
        "cap_kbps": result.cap_kbps,
        "wall_s": round(wall_s, 1),
        "search_s": round(result.search_s, 1),
        # a long file's speed: the search is a fixed cost, the encode scales with the length
        "encode_x_realtime": round(facts.duration_s / max(wall_s - result.search_s, 1e-3), 2),
        "ffmpeg_cpu_s": round(children_cpu_s, 1),
        "egress_saved_pct": round(saved_pct, 1),
        "egress_usd_per_stream_hour": {"ours": round(ours_usd, 4), "youtube_6mbps": round(youtube_usd, 4)},
        "egress_usd_saved_per_stream_hour": round(youtube_usd - ours_usd, 4),
    }
    return [
        Figure(
            measure="Conform speed, 1080p30 on one core (search + encode)",
            ours=speed,
            baseline=1.0,
            unit="x realtime",
            ratio=speed,
            ratio_of="conform/realtime",
            target="-",
            met=None,
            ours_label="conform",
            baseline_label="realtime",
            details=details,
        ),
        Figure(
            measure=f"Video bitrate at SSIM >= {TARGET_SSIM}, 1080p30",
            ours=ours_kbps / 1000,
            baseline=YOUTUBE_1080P30_KBPS / 1000,
            unit="Mbps",
            ratio=ours_kbps / YOUTUBE_1080P30_KBPS,
            ratio_of="ours/YouTube",
            target=f"ours <= YouTube, SSIM >= {TARGET_SSIM}",
            met=ours_kbps <= YOUTUBE_1080P30_KBPS and result.ssim >= TARGET_SSIM,
            baseline_label="YouTube",
            details=details,
        ),
        Figure(
            measure="Egress per stream-hour at $0.09/GB (video + 128k audio)",
            ours=ours_usd * 100,
            baseline=youtube_usd * 100,
            unit="¢",
            ratio=ours_usd / youtube_usd,
            ratio_of="ours/YouTube",
            target="-",
            met=None,
            baseline_label="YouTube 6 Mbps",
            details=details,
        ),
    ]


PRESETS = ("veryfast", "faster", "medium", "slow", "slower")


def _kbps_at_target(ssims: dict[int, float], costs: dict[int, tuple[float, float]], crf: int) -> float:
    """The bits a preset needs at exactly the search's target, between the CRF that passed and the next
    (which failed): whole CRF steps alone would favour whichever preset happens to land just above it."""
    target = TARGET_SSIM + SEARCH_MARGIN
    if crf + 1 not in ssims or ssims[crf] <= ssims[crf + 1]:
        return costs[crf][1]
    share = (ssims[crf] - target) / (ssims[crf] - ssims[crf + 1])
    return costs[crf][1] * (costs[crf + 1][1] / costs[crf][1]) ** min(max(share, 0.0), 1.0)


def compare_presets(clip: Path, start_s: float = 10.0, seconds: float = 4.0) -> list[dict[str, float | str]]:
    """x264's presets side by side on one stretch of the clip, on one core: for each, the CRF the search
    picks, the bits that costs and the encode's speed. What stream_task/conform.py's PRESET rests on."""
    ffmpeg, ffprobe = shutil.which("ffmpeg") or "ffmpeg", shutil.which("ffprobe") or "ffprobe"
    facts = read_media_facts(ffprobe, ffmpeg, clip)
    plan = plan_picture(facts, clip.stem)
    cap = cap_kbps_for(plan)
    with one_core():
        workdir = Path(tempfile.mkdtemp(prefix="bench-presets-"))
        rows: list[dict[str, float | str]] = []
        try:
            reference = make_reference(
                ffmpeg, clip, facts, plan, workdir, start_s, seconds, workdir / "ref.mkv"
            )
            for preset in PRESETS:
                costs: dict[int, tuple[float, float]] = {}

                def ssim_at(
                    crf: int, preset: str = preset, costs: dict[int, tuple[float, float]] = costs
                ) -> float:
                    encoded = workdir / f"{preset}-{crf}.mp4"
                    clock = time.monotonic()
                    subprocess.run(
                        [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(reference),
                         *video_args(plan, crf, cap, preset), "-an", str(encoded)],
                        check=True,
                    )  # fmt: skip
                    costs[crf] = (time.monotonic() - clock, encoded.stat().st_size * 8 / seconds / 1000)
                    return ssim_between(ffprobe, encoded, reference)

                choice = search_crf(ssim_at)
                encode_s, kbps = costs[choice.crf]
                rows.append(
                    {
                        "preset": preset,
                        "crf": choice.crf,
                        "ssim": round(choice.ssim, 4),
                        "kbps": round(kbps),
                        "kbps_at_target": round(_kbps_at_target(choice.measured, costs, choice.crf)),
                        "x_realtime": round(seconds / encode_s, 2),
                    }
                )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    files = media.prepare()
    if "--presets" in sys.argv:
        for row in compare_presets(files.clip):
            print(row)
        sys.exit(0)
    figures = measure(files)
    print(table(figures))
    for key, value in figures[0].details.items():
        print(f"{key}: {value}")
    sys.exit(0)
