"""What an RTMP ingest recorded, measured: per-stream timestamps of an FLV recording, the seams between
playlist items, the gaps, and the timestamp warnings ffmpeg prints.

Reads the FLV tags itself (stream_task.flv's reader): FLV carries decode timestamps in milliseconds and,
for H.264, the composition offset in the tag body, so the numbers here are exactly what the ingest got.
An item's first picture is found by its content: the x264 encoder writes its settings as an SEI message
in the first picture of every encode, so each item (made with other settings) names itself on air.
"""

from __future__ import annotations

import itertools
import re
import statistics
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stream_task.flv import read_tags

_AVC_END_OF_SEQUENCE = 2
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
_X264_SEI = re.compile(rb"x264 - core [^\x00]*")
AAC_FRAME_SAMPLES = 1024
ROUNDING_MS = 1.0  # FLV timestamps are whole milliseconds

# What ffmpeg 5.1 prints when timestamps go wrong (muxer checks, the demuxer, the encoders' queues).
TIMESTAMP_WARNING = re.compile(
    r"non[- ]monoton|monotonically increasing|out of order|backward in time|timestamp discontinuity"
    r"|invalid (?:dts|pts|timestamps)|pts < dts|dts > pts|pts has no value|past duration too large"
    r"|application provided invalid",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Packets:
    """The recording's media packets, per stream, in file order (milliseconds as FLV has them)."""

    video_dts_ms: list[int]
    video_pts_ms: list[int]  # decode time + the H.264 composition offset (Tag.presentation_ms)
    video_keyframes: list[int]  # indices into video_dts_ms
    audio_dts_ms: list[int]
    audio_sample_rate: int | None  # from the AAC AudioSpecificConfig
    # (index into video_dts_ms, the x264 settings it carries): where an encode's first picture went on air
    encoder_starts: list[tuple[int, bytes]] = field(default_factory=list)
    # AVC end-of-sequence tags (not pictures): their timestamps
    video_end_of_sequence_ms: list[int] = field(default_factory=list)
    sequence_headers: int = 0

    @property
    def audio_frame_ms(self) -> float:
        return AAC_FRAME_SAMPLES * 1000 / (self.audio_sample_rate or 48000)


def packets(path: Path) -> Packets:
    """Every media packet's timestamps in an FLV file, per stream (sequence headers and end-of-sequence
    tags apart)."""
    video_dts: list[int] = []
    video_pts: list[int] = []
    keyframes: list[int] = []
    audio_dts: list[int] = []
    starts: list[tuple[int, bytes]] = []
    eos: list[int] = []
    sample_rate: int | None = None
    headers = 0
    with path.open("rb") as stream:
        for tag in read_tags(stream):
            if tag.is_sequence_header:
                headers += 1
                if tag.is_audio and len(tag.body) >= 4:
                    index = ((tag.body[2] & 0x07) << 1) | (tag.body[3] >> 7)
                    sample_rate = _AAC_RATES[index] if index < len(_AAC_RATES) else None
                continue
            if tag.is_audio:
                audio_dts.append(tag.timestamp_ms)
            elif tag.is_video:
                if len(tag.body) >= 2 and tag.body[1] == _AVC_END_OF_SEQUENCE:
                    eos.append(tag.timestamp_ms)
                    continue
                if tag.is_keyframe:
                    keyframes.append(len(video_dts))
                    found = _X264_SEI.search(tag.body)
                    if found:
                        starts.append((len(video_dts), found.group(0)))
                video_dts.append(tag.timestamp_ms)
                video_pts.append(tag.presentation_ms)
    return Packets(video_dts, video_pts, keyframes, audio_dts, sample_rate, starts, eos, headers)


def encoder_settings(path: Path) -> bytes:
    """The x264 settings an encoded file carries in its first picture (what names it in a recording)."""
    with path.open("rb") as stream:
        found = _X264_SEI.search(stream.read(1 << 20))
    if found is None:
        raise ValueError(f"{path} carries no x264 SEI")
    return found.group(0)


@dataclass(frozen=True)
class Step:
    """One step between consecutive packets of a stream: from `at_ms` to `at_ms + step_ms`."""

    index: int  # of the packet the step leads to
    at_ms: int
    step_ms: int


@dataclass(frozen=True)
class Seam:
    """An item's first picture on air, and the steps that led into it."""

    label: str
    at_ms: int
    video_step_ms: int | None
    max_audio_step_ms: int | None  # the largest audio step within a frame or two of the seam


@dataclass(frozen=True)
class SeamReport:
    duration_s: float
    video_packets: int
    audio_packets: int
    video_frame_ms: float  # the usual step: 1000/fps
    audio_frame_ms: float
    video_not_increasing: list[Step]  # DTS that go back or repeat
    audio_not_increasing: list[Step]
    max_video_step: Step
    max_audio_step: Step
    video_end_ms: float  # the last picture's presentation time plus one frame
    audio_end_ms: float  # the last audio packet plus one AAC frame
    seams: list[Seam]
    video_end_of_sequence_ms: list[int]
    video_steps: list[Step] = field(repr=False)
    audio_steps: list[Step] = field(repr=False)

    @property
    def av_end_difference_ms(self) -> float:
        return self.audio_end_ms - self.video_end_ms

    def video_gaps(self, limit_ms: float) -> list[Step]:
        return [s for s in self.video_steps if s.step_ms > limit_ms]

    def audio_gaps(self, limit_ms: float) -> list[Step]:
        return [s for s in self.audio_steps if s.step_ms > limit_ms]

    def summary(self) -> str:
        labels = "".join(seam.label[:1] for seam in self.seams)
        video, audio = self.max_video_step, self.max_audio_step
        return (
            f"{self.duration_s:.3f} s recorded; {self.video_packets} pictures, "
            f"{self.audio_packets} audio packets; DTS not increasing: video "
            f"{len(self.video_not_increasing)}, audio {len(self.audio_not_increasing)}; max step: video "
            f"{video.step_ms} ms at {video.at_ms} ms (frame {self.video_frame_ms:.2f}), audio "
            f"{audio.step_ms} ms at {audio.at_ms} ms (frame {self.audio_frame_ms:.2f}); audio ends "
            f"{self.av_end_difference_ms:+.1f} ms after the picture; {len(self.seams)} item starts "
            f"({labels}); {len(self.video_end_of_sequence_ms)} end-of-sequence tags"
        )


def _step_list(values: Sequence[int]) -> list[Step]:
    return [Step(i + 1, a, b - a) for i, (a, b) in enumerate(itertools.pairwise(values))]


def seam_report(found: Packets, labels: dict[bytes, str] | None = None) -> SeamReport:
    """Measures the recording; `labels` names items by their encoder settings (see encoder_settings)."""
    video, audio = found.video_dts_ms, found.audio_dts_ms
    if len(video) < 2 or len(audio) < 2:
        raise ValueError(f"too few packets to measure: {len(video)} video, {len(audio)} audio")
    video_steps, audio_steps = _step_list(video), _step_list(audio)
    # FLV's whole milliseconds make the steps 33 or 34 ms at 30 fps: their mean (gaps left out) is the frame.
    median = statistics.median(s.step_ms for s in video_steps)
    frame_ms = statistics.fmean(s.step_ms for s in video_steps if 0 < s.step_ms <= 1.5 * median)
    audio_frame_ms = found.audio_frame_ms
    start = min(min(found.video_pts_ms), audio[0])  # the first thing presented
    video_end = max(found.video_pts_ms) + frame_ms
    audio_end = audio[-1] + audio_frame_ms
    seams = []
    for index, settings in found.encoder_starts:
        at = video[index]
        near = [s.step_ms for s in audio_steps if -2 * frame_ms <= s.at_ms + s.step_ms - at <= 4 * frame_ms]
        seams.append(
            Seam(
                (labels or {}).get(settings, "?"),
                at,
                video[index] - video[index - 1] if index > 0 else None,
                max(near) if near else None,
            )
        )
    return SeamReport(
        duration_s=(max(video_end, audio_end) - start) / 1000,
        video_packets=len(video),
        audio_packets=len(audio),
        video_frame_ms=frame_ms,
        audio_frame_ms=audio_frame_ms,
        video_not_increasing=[s for s in video_steps if s.step_ms <= 0],
        audio_not_increasing=[s for s in audio_steps if s.step_ms <= 0],
        max_video_step=max(video_steps, key=lambda s: s.step_ms),
        max_audio_step=max(audio_steps, key=lambda s: s.step_ms),
        video_end_ms=video_end,
        audio_end_ms=audio_end,
        seams=seams,
        video_end_of_sequence_ms=found.video_end_of_sequence_ms,
        video_steps=video_steps,
        audio_steps=audio_steps,
    )


def around(values: Sequence[int], at_ms: float, count: int = 4) -> list[int]:
    """The timestamps next to `at_ms`: what to print when a step is wrong."""
    index = min(range(len(values)), key=lambda i: abs(values[i] - at_ms)) if values else 0
    return list(values[max(0, index - count) : index + count + 1])


def context(found: Sequence[Step], values: Sequence[int], count: int = 5) -> list[str]:
    """The first `count` steps of `found`, each with the timestamps next to it: what a failure shows."""
    return [f"{s.step_ms} ms after {s.at_ms} ms: {around(values, s.at_ms)}" for s in found[:count]]


def timestamp_warnings(lines: Iterable[str]) -> list[str]:
    return [line for line in lines if TIMESTAMP_WARNING.search(line)]


def ffmpeg_check(path: Path, timeout_s: float = 300) -> list[str]:
    """What ffmpeg says reading the whole recording: decoded (decoder complaints) and remuxed by copy to FLV
    (the muxer's timestamp checks, which the null muxer skips). Returns its stderr lines."""
    lines = []
    for output in (["-f", "null", "-"], ["-map", "0", "-c", "copy", "-f", "flv", "-y", "/dev/null"]):
        result = subprocess.run(
            ["ffmpeg", "-hide_banner", "-nostdin", "-v", "warning", "-i", str(path), *output],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ffmpeg could not read {path}: {result.stderr[-2000:]}")
        lines += [line for line in result.stderr.splitlines() if line.strip()]
    return lines


def gap_limits_ms(video_frame_ms: float, audio_frame_ms: float) -> tuple[float, float]:
    """The largest steps between consecutive packets that are no gap, (video, audio): at most one missing
    picture (two frames' step) and at most one missing AAC frame (step - frame <= frame), each plus FLV's
    millisecond rounding."""
    return 2 * video_frame_ms + ROUNDING_MS, 2 * audio_frame_ms + ROUNDING_MS


def timing_faults(
    report: SeamReport, found: Packets, video_limit_ms: float, audio_limit_ms: float
) -> list[str]:
    """What is wrong with the recording's timing, each with the timestamps around it: decode timestamps
    that go back or repeat, per stream, and steps over the limits (see gap_limits_ms). Empty when clean."""
    video, audio = found.video_dts_ms, found.audio_dts_ms
    checks = (
        ("video DTS not increasing", report.video_not_increasing, video),
        ("audio DTS not increasing", report.audio_not_increasing, audio),
        (f"video gap over {video_limit_ms:.1f} ms", report.video_gaps(video_limit_ms), video),
        (f"audio gap over {audio_limit_ms:.1f} ms", report.audio_gaps(audio_limit_ms), audio),
    )
    return [f"{what}: {line}" for what, steps, values in checks for line in context(steps, values)]


def wait_until_written(path: Path, timeout_s: float) -> None:
    """Until the ingest's recording exists and has stopped growing (nginx closes it after the publisher)."""
    deadline = time.monotonic() + timeout_s
    size = -1
    while time.monotonic() < deadline:
        current = path.stat().st_size if path.is_file() else -1
        if current > 0 and current == size:
            return
        size = current
        time.sleep(0.5)
    assert path.is_file(), f"the ingest recorded nothing at {path}"


def stream_log_lines(log_file: Path, stream_id: str) -> list[str]:
    """The lines of local mode's log that belong to one stream: its task's records (each carries its
    stream_id), among them ffmpeg's stderr as its readers and pusher log it."""
    lines = log_file.read_text(errors="replace").splitlines()
    return [line for line in lines if stream_id in line]
