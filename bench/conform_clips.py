"""Conform once, copy forever, on every kind of file the tests make (tests/e2e/media_files.py: a phone's
portrait HEVC, VP9, a variable rate, mono 44.1 kHz, MP3s with and without cover art, an odd width, HDR PQ,
ProRes, interlaced MPEG-2, AV1, a picture that stops while the talk goes on, a plain H.264 mp4), each
CLIP_SECONDS long and conformed by stream_task.conform.conform on one core.

Per clip: the picture it becomes (size, frame rate), the CRF the search chose, the video bitrate that
gives, the SSIM of the whole conformed picture against the source (drawn through the conform's own chain,
as stream_task.conform.sample_ssim does), and the baseline: YouTube's recommended bitrate for that picture,
which is the VBV cap the conform puts on the encode (stream_task.media_facts.youtube_max_video_kbps), with
the egress the difference saves at $0.09/GB, in % and in $ per stream-hour (per destination).

`python -m bench.conform_clips [--seconds S]` runs it alone (about 3 min at 15 s; the clips are made once
and cached in build/bench/clips/).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.egress import EGRESS_USD_PER_GB, Saving, saving
from bench.harness import BUILD_DIR, one_core
from bench.report import Figure, table
from stream_task.conform import TARGET_SSIM, conform, sample_ssim
from stream_task.media_facts import read_media_facts
from stream_task.picture import plan_picture
from tests.e2e import media_files

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
CLIP_SECONDS = 15.0

Maker = Callable[[Path, float], Path]

# Each playable kind the tests make, named as the conform's tests name them.
CLIPS: dict[str, Maker] = {
    "hevc-10bit-portrait.mp4": media_files.hevc_10bit_portrait,
    "vp9.webm": media_files.vp9_webm,
    "variable-rate.mp4": media_files.variable_rate,
    "mono-44k.mp4": media_files.mono_44k,
    "cover.mp3": media_files.mp3_with_cover,
    "card.mp3": media_files.mp3_without_cover,
    "odd-width.mp4": media_files.odd_width,
    "hdr-pq.mp4": media_files.hdr_pq,
    "prores.mov": media_files.prores,
    "mpeg2-interlaced.ts": media_files.mpeg2_interlaced,
    "av1.mkv": media_files.av1,
    "picture-stops-talk-goes-on.mp4": media_files.picture_stops_talk_goes_on,
    "plain-h264.mp4": media_files.plain_mp4,
}


@dataclass(frozen=True)
class ClipConform:
    name: str
    width: int
    height: int
    fps: float
    crf: int
    video_kbps: float
    ssim: float  # the whole conformed picture against the source's
    search_ssim: float  # the lowest of the search's samples at the chosen CRF
    youtube_kbps: int
    saved: Saving
    conform_s: float
    seconds: float


def prepare(seconds: float = CLIP_SECONDS) -> dict[str, Path]:
    """Each clip, made once (through a partial file) and kept under build/bench/clips/<seconds>s/."""
    directory = BUILD_DIR / "clips" / f"{seconds:g}s"
    directory.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, make in CLIPS.items():
        path = directory / name
        if not path.is_file():
            partial = path.with_name(f"{path.stem}.part{path.suffix}")
            make(partial, seconds)
            partial.rename(path)
        made[name] = path
    return made


def conform_clip(name: str, source: Path, workdir: Path) -> ClipConform:
    facts = read_media_facts(FFPROBE, FFMPEG, source)
    output = workdir / f"{source.stem}.conformed.mp4"
    started = time.monotonic()
    result = conform(FFMPEG, FFPROBE, source, output, facts=facts)
    conform_s = time.monotonic() - started
    video = result.output.video
    if video is None or result.video_bitrate_bps is None:
        raise RuntimeError(f"{name}: the conformed file has no video bitrate")
    plan = plan_picture(facts, source.stem)
    whole = sample_ssim(FFMPEG, FFPROBE, source, facts, output, start_s=0.0, seconds=plan.duration_s)
    video_kbps = result.video_bitrate_bps / 1000
    return ClipConform(
        name=name,
        width=video.display_width,
        height=video.display_height,
        fps=round(video.fps or 0.0, 3),
        crf=result.crf,
        video_kbps=video_kbps,
        ssim=whole,
        search_ssim=result.ssim,
        youtube_kbps=result.cap_kbps,
        saved=saving(video_kbps, result.cap_kbps),
        conform_s=conform_s,
        seconds=plan.duration_s,
    )


def figure(clip: ClipConform) -> Figure:
    return Figure(
        measure=f"Conformed video bitrate, {clip.name} ({clip.width}x{clip.height} {clip.fps:g} fps)",
        ours=clip.video_kbps / 1000,
        baseline=clip.youtube_kbps / 1000,
        unit="Mbps",
        ratio=clip.video_kbps / clip.youtube_kbps,
        ratio_of="ours/YouTube",
        target=f"ours <= YouTube, SSIM >= {TARGET_SSIM}",
        met=clip.video_kbps <= clip.youtube_kbps and clip.ssim >= TARGET_SSIM,
        baseline_label="YouTube",
        details={
            "clip": clip.name,
            "seconds": round(clip.seconds, 3),
            "resolution": f"{clip.width}x{clip.height}",
            "fps": clip.fps,
            "crf": clip.crf,
            "video_mbps": round(clip.video_kbps / 1000, 3),
            "ssim": round(clip.ssim, 4),
            "search_ssim": round(clip.search_ssim, 4),
            "youtube_mbps": clip.youtube_kbps / 1000,
            "egress_saved_pct": round(clip.saved.pct, 1),
            "egress_usd_saved_per_stream_hour": round(clip.saved.usd_per_stream_hour, 4),
            "egress_usd_per_gb": EGRESS_USD_PER_GB,
            "conform_s": round(clip.conform_s, 1),
        },
    )


def measure(seconds: float = CLIP_SECONDS, progress: Callable[[str], None] | None = None) -> list[Figure]:
    sources = prepare(seconds)
    workdir = Path(tempfile.mkdtemp(prefix="bench-clips-"))
    figures = []
    try:
        with one_core():
            for name, source in sources.items():
                if progress is not None:
                    progress(f"conform: {name}")
                figures.append(figure(conform_clip(name, source, workdir)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def clip_table(figures: Sequence[Figure]) -> str:
    """The per-clip columns, from the details of this module's figures (the others have no resolution)."""
    header = ("clip", "picture", "fps", "CRF", "Mbps", "SSIM", "YouTube Mbps", "saved %", "saved $/h")
    rows = [
        (
            d["clip"],
            d["resolution"],
            f"{d['fps']:g}",
            str(d["crf"]),
            f"{d['video_mbps']:.3f}",
            f"{d['ssim']:.4f}",
            f"{d['youtube_mbps']:g}",
            f"{d['egress_saved_pct']:.1f}",
            f"{d['egress_usd_saved_per_stream_hour']:.4f}",
        )
        for d in (f.details for f in figures)
        if "resolution" in d
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    head = "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    return "\n".join([head, "  ".join("-" * width for width in widths), *lines])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.conform_clips", description=__doc__)
    parser.add_argument("--seconds", type=float, default=CLIP_SECONDS, help="each clip's length")
    args = parser.parse_args()
    results = measure(args.seconds, progress=lambda text: print(text, flush=True))
    print(table(results))
    print()
    print(clip_table(results))
