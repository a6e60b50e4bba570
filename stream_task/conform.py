"""Conform once, copy forever: turns any playable file into the house profile (H.264 High, level 4.2,
yuv420p, constant frame rate, closed 2 s GOPs on a fixed grid, AAC-LC 48 kHz stereo exactly as long as the
picture, mp4 with its index in front), so that any two conformed files concatenate and loop by stream copy.

Bits are the bill: every replay of a stream pays for them again, the conform only once. So the rate is the
fewest bits that keep SSIM >= TARGET_SSIM against the source, found by encoding a few seconds at 20, 50 and
80 % of the file at candidate CRFs (the highest CRF that holds the target on every sample wins), and
capped by YouTube's recommended bitrate for the picture's size and frame rate (a VBV maxrate).

PRESET: x264's `medium`, measured by `bench.conform.compare_presets` (one core, 4 s of a detailed moving
1080p30 picture, bits interpolated to the same SSIM): veryfast 2.85 Mbps, faster 2.62, medium 2.33, slow
2.31, slower 2.30. Medium sends 18 % fewer bits than veryfast, which every replay saves again; slow and
slower save 1 % more for 1.3x and 2x the CPU (0.31, 0.23 and 0.18 x realtime), which on a 3-hour file
is hours of compute for a saving that a stream needs some 50 hours on air to repay."""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from stream_task.command import source_whitelists
from stream_task.launch import DIRECT, Launch
from stream_task.media_facts import MediaFacts, read_media_facts, youtube_max_video_kbps
from stream_task.picture import (
    PicturePlan,
    PictureSource,
    picture_filters,
    picture_input,
    picture_map,
    plan_picture,
)
from stream_task.process import ChildProcess
from stream_task.progress import ProgressParser

TARGET_SSIM = 0.97
# The search aims a little above the target: the samples stand for the file, and another stretch of it
# measured on the final encode may score a few thousandths lower.
SEARCH_MARGIN = 0.003
PRESET = "medium"
LOWEST_CRF, HIGHEST_CRF = 18, 40
AUDIO_BITRATE = "128k"  # YouTube's recommendation for stereo
SAMPLE_S = 3.0
SAMPLE_AT = (0.2, 0.5, 0.8)
SEARCH_SHARE_PCT = 10.0  # of the progress bar: the CRF search, before the encode
STOP_GRACE_S = 10.0

ProgressCallback = Callable[[float], None]


class ConformFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CrfChoice:
    crf: int
    ssim: float  # the lowest of the samples at that CRF
    measured: dict[int, float] = field(default_factory=dict)  # every CRF tried


def search_crf(
    ssim_at: Callable[[int], float],
    *,
    target: float = TARGET_SSIM + SEARCH_MARGIN,
    lowest: int = LOWEST_CRF,
    highest: int = HIGHEST_CRF,
) -> CrfChoice:
    """The highest CRF whose SSIM meets the target, by bisection (SSIM falls as CRF rises): about five
    measurements between 18 and 40. When even the lowest misses (a cap that binds, or noise no rate
    keeps), the lowest: the VBV cap then sets the bits."""
    measured: dict[int, float] = {}

    def measure(crf: int) -> float:
        if crf not in measured:
            measured[crf] = ssim_at(crf)
        return measured[crf]

    passing, failing = lowest - 1, highest + 1  # bounds known to pass and to fail
    while failing - passing > 1:
        middle = (passing + failing) // 2
        if measure(middle) >= target:
            passing = middle
        else:
            failing = middle
    crf = max(passing, lowest)
    return CrfChoice(crf, measure(crf), dict(measured))


def sample_starts(duration_s: float, sample_s: float = SAMPLE_S, gop_s: float = 2.0) -> list[float]:
    """Where the quality samples start: at 20, 50 and 80 % of a long file, the middle of a short one, the
    start of one shorter than a sample; each on a GOP boundary, so that a sample's frames sit where they
    will in the final encode's GOPs (a frame late in a GOP costs more bits for the same quality)."""
    if duration_s <= sample_s:
        return [0.0]
    if duration_s < sample_s * len(SAMPLE_AT) * 2:
        wanted = [(duration_s - sample_s) / 2]
    else:
        wanted = [min(duration_s * at, duration_s - sample_s) for at in SAMPLE_AT]
    return [round(math.floor(start / gop_s) * gop_s, 3) for start in wanted]


def video_args(plan: PicturePlan, crf: int, cap_kbps: int, preset: str = PRESET) -> list[str]:
    """x264 in the house profile. A fixed GOP with no scenecut keyframes keeps keyframes on a 2 s grid;
    closed GOPs and `stitchable` (headers not tuned to the content) let files concatenate by copy."""
    return [
        "-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-level:v", "4.2",
        "-pix_fmt", "yuv420p", "-crf", str(crf),
        "-maxrate", f"{cap_kbps}k", "-bufsize", f"{2 * cap_kbps}k",
        "-g", str(plan.keyint), "-keyint_min", str(plan.keyint), "-sc_threshold", "0",
        "-flags", "+cgop", "-x264-params", "stitchable=1:open-gop=0",
    ]  # fmt: skip


AUDIO_FILTER = (
    "aresample=48000:async=1:first_pts=0,"
    "aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,apad"
)
AUDIO_ARGS = ["-c:a", "aac", "-profile:a", "aac_low", "-b:a", AUDIO_BITRATE, "-ar", "48000", "-ac", "2"]


def cap_kbps_for(plan: PicturePlan) -> int:
    return youtube_max_video_kbps(plan.width, plan.height, float(plan.fps))


@dataclass(frozen=True)
class ConformResult:
    crf: int
    preset: str
    cap_kbps: int
    ssim: float  # lowest sample's SSIM at the chosen CRF
    crf_tried: dict[int, float]
    video_bitrate_bps: int | None
    bitrate_bps: int | None
    output: MediaFacts
    elapsed_s: float
    search_s: float  # of elapsed_s: a fixed cost per file, about 15 s of media encoded several times


def _run(argv: list[str], launch: Launch, timeout_s: float | None = None) -> subprocess.CompletedProcess[str]:
    result = launch.run(argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = " | ".join(line for line in result.stderr.splitlines()[-3:] if line.strip())
        raise ConformFailed(f"ffmpeg failed: {tail[:400]}")
    return result


def _ffmpeg(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y"]


def on_frame_grid(plan: PicturePlan, start_s: float) -> float:
    """A sample's start moved onto the output's frame grid, so that its frames are the final encode's."""
    if plan.source is not PictureSource.VIDEO:
        return 0.0
    return float(round(start_s * plan.fps) / plan.fps)


def make_reference(
    ffmpeg: str,
    source: Path,
    facts: MediaFacts,
    plan: PicturePlan,
    workdir: Path,
    start_s: float,
    seconds: float,
    out: Path,
    launch: Launch = DIRECT,
) -> Path:
    """The house picture of `seconds` from `start_s`, losslessly: what a sample encode is measured against."""
    _run(
        [
            *_ffmpeg(ffmpeg),
            *picture_input(ffmpeg, source, plan, workdir, seek_s=on_frame_grid(plan, start_s), launch=launch),
            "-map", picture_map(plan),
            "-vf", picture_filters(facts, plan, workdir, constant_rate=True),
            "-t", f"{seconds:.3f}", "-an",
            "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", str(out),
        ],
        launch,
    )  # fmt: skip
    return out


def _movie(path: Path) -> str:
    text = str(path)
    if any(char in text for char in "'\\:,;[]"):
        raise ConformFailed(f"unexpected characters in a work path: {text}")
    return text


def ssim_between(
    ffprobe: str,
    encoded: Path,
    reference: Path,
    start_s: float = 0.0,
    fps: float = 30.0,
    launch: Launch = DIRECT,
) -> float:
    """Mean SSIM of `encoded` from `start_s` against `reference` from its start, frame by frame, over the
    reference's length (ffmpeg's ssim filter; ffprobe lists each frame's score). Frames pair by their
    number, not their time: Matroska's millisecond clock would otherwise pair a frame with its predecessor."""
    # The window opens half a frame early: a frame's time rounded in the container may fall just short.
    window = (
        f"movie={_movie(encoded)}:seek_point={max(start_s - 4, 0):.3f},"
        f"trim=start={start_s - 0.5 / fps:.6f},setpts=N/TB[main];"
        if start_s > 0
        else f"movie={_movie(encoded)},setpts=N/TB[main];"
    )
    graph = f"{window}movie={_movie(reference)},setpts=N/TB[ref];[main][ref]ssim=shortest=1[out0]"
    # Only the task's own work files, through the lavfi graph's movie sources.
    result = launch.run(
        [ffprobe, "-v", "error", "-protocol_whitelist", "file", "-f", "lavfi", "-i", graph,
         "-show_entries", "frame_tags=lavfi.ssim.All", "-of", "csv=p=0"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    scores = [float(line) for line in result.stdout.split() if line.strip()]
    if result.returncode != 0 or not scores:
        raise ConformFailed(f"SSIM could not be measured: {result.stderr.strip()[-300:]}")
    return fmean(scores)


def sample_ssim(
    ffmpeg: str,
    ffprobe: str,
    source: Path | str,
    facts: MediaFacts,
    encoded: Path | str,
    *,
    title: str = "",
    start_s: float | None = None,
    seconds: float = SAMPLE_S,
    launch: Launch = DIRECT,
) -> float:
    """SSIM of a conformed file against its source over one sample (the middle by default), the source
    drawn through the same chain as the conform."""
    source = Path(source)
    plan = plan_picture(facts, title or source.stem)
    seconds = min(seconds, plan.duration_s)
    if start_s is None:
        seconds = min(seconds, plan.moving_s)
        starts = sample_starts(plan.moving_s, seconds, plan.keyint / float(plan.fps))
        start_s = starts[len(starts) // 2]
    with _workdir(launch) as workdir:
        reference = workdir / "ref.mkv"
        make_reference(ffmpeg, source, facts, plan, workdir, start_s, seconds, reference, launch)
        return ssim_between(
            ffprobe, Path(encoded), reference, on_frame_grid(plan, start_s), float(plan.fps), launch
        )


@contextmanager
def _workdir(launch: Launch) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="conform-"))
    try:
        launch.share(path)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def choose_crf(
    ffmpeg: str,
    ffprobe: str,
    source: Path,
    facts: MediaFacts,
    plan: PicturePlan,
    workdir: Path,
    *,
    preset: str = PRESET,
    on_step: Callable[[], None] | None = None,
    launch: Launch = DIRECT,
) -> CrfChoice:
    cap = cap_kbps_for(plan)
    # Where the source's picture moves: a picture that stops before the talk is held, which costs no bits.
    seconds = min(SAMPLE_S, plan.moving_s)
    gop_s = plan.keyint / float(plan.fps)
    starts = sample_starts(plan.moving_s, seconds, gop_s) if plan.source is PictureSource.VIDEO else [0.0]
    references = [
        make_reference(
            ffmpeg, source, facts, plan, workdir, start, seconds, workdir / f"ref-{index}.mkv", launch
        )
        for index, start in enumerate(starts)
    ]

    def ssim_at(crf: int) -> float:
        scores = []
        for index, reference in enumerate(references):
            encoded = workdir / f"sample-{index}-crf{crf}.mp4"
            encode = [*_ffmpeg(ffmpeg), "-protocol_whitelist", "file", "-format_whitelist", "matroska"]
            encode += ["-i", str(reference), *video_args(plan, crf, cap, preset), "-an"]
            _run([*encode, str(encoded)], launch)
            scores.append(ssim_between(ffprobe, encoded, reference, launch=launch))
            encoded.unlink(missing_ok=True)
        if on_step:
            on_step()
        return min(scores)

    return search_crf(ssim_at)


def conform(
    ffmpeg: str,
    ffprobe: str,
    source: Path | str,
    out_path: Path | str,
    *,
    facts: MediaFacts | None = None,
    title: str = "",
    on_progress: ProgressCallback | None = None,
    preset: str = PRESET,
    launch: Launch = DIRECT,
) -> ConformResult:
    """Writes the house rendition of `source` to `out_path` (through a partial file: `out_path` exists only
    once complete). Raises MediaRejected for an unplayable source, ConformFailed when ffmpeg fails."""
    clock = time.monotonic()
    source, out_path = Path(source), Path(out_path)
    facts = facts or read_media_facts(ffprobe, ffmpeg, source, launch)
    plan = plan_picture(facts, title or source.stem)
    cap = cap_kbps_for(plan)
    report = on_progress or (lambda _pct: None)
    steps = 0

    def searched() -> None:
        nonlocal steps
        steps += 1
        report(min(SEARCH_SHARE_PCT * steps / 6, SEARCH_SHARE_PCT))

    with _workdir(launch) as workdir:
        report(0.0)
        search_started = time.monotonic()
        choice = choose_crf(
            ffmpeg, ffprobe, source, facts, plan, workdir, preset=preset, on_step=searched, launch=launch
        )
        search_s = time.monotonic() - search_started
        report(SEARCH_SHARE_PCT)
        partial = out_path.with_name(f"{out_path.stem}.part{out_path.suffix}")
        if facts.audio is not None:
            audio_input = (
                []
                if plan.source is PictureSource.VIDEO
                else [*source_whitelists(str(source)), "-i", str(source)]
            )
            audio_map = "0:a:0" if plan.source is PictureSource.VIDEO else "1:a:0"
        else:  # silence, so that every item carries the same two streams
            audio_input = ["-format_whitelist", "lavfi", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]
            audio_map = "1:a:0"
        argv = [
            *_ffmpeg(ffmpeg), "-nostats", "-progress", "pipe:1",
            *picture_input(ffmpeg, source, plan, workdir, launch=launch), *audio_input,
            "-map", picture_map(plan), "-map", audio_map,
            "-vf", picture_filters(facts, plan, workdir, constant_rate=True),
            "-af", AUDIO_FILTER,
            *video_args(plan, choice.crf, cap, preset), *AUDIO_ARGS,
            "-t", f"{plan.duration_s:.6f}",
            "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn",
            # One clock for every item's picture (90 kHz counts whole ticks at 24, 25, 30, 60 and 29.97
            # fps): joined by stream copy, no item's timestamps are rescaled into another's.
            "-video_track_timescale", "90000",
            "-max_muxing_queue_size", "4096", "-movflags", "+faststart", "-f", "mp4", str(partial),
        ]  # fmt: skip
        process = ChildProcess(argv, name="conform", stdout=subprocess.PIPE, log_stderr=False, launch=launch)
        try:
            parser = ProgressParser()
            assert process.stdout is not None
            for raw in process.stdout:
                snapshot = parser.feed(raw.decode("utf-8", errors="replace"))
                if snapshot is not None and snapshot.out_time_s is not None:
                    share = min(snapshot.out_time_s / plan.duration_s, 1.0)
                    report(SEARCH_SHARE_PCT + (100 - SEARCH_SHARE_PCT) * share)
            code = process.wait()
        except BaseException:
            process.stop(STOP_GRACE_S)
            partial.unlink(missing_ok=True)
            raise
        if code != 0:
            partial.unlink(missing_ok=True)
            raise ConformFailed(process.reason("the conform's ffmpeg failed"))
        partial.replace(out_path)
    output = read_media_facts(ffprobe, ffmpeg, out_path, launch)
    report(100.0)
    return ConformResult(
        crf=choice.crf,
        preset=preset,
        cap_kbps=cap,
        ssim=choice.ssim,
        crf_tried=choice.measured,
        video_bitrate_bps=output.video_bitrate_bps,
        bitrate_bps=output.bitrate_bps,
        output=output,
        elapsed_s=time.monotonic() - clock,
        search_s=search_s,
    )
