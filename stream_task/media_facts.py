"""What a media file is, read once with ffprobe when it arrives: its length, picture, sound and bitrate, and
whether the engine can stream it as it is (`stream_ready`) or it needs a conform first. A file nobody can
play (empty, cut short, not media at all) is refused here with a reason in plain words.

The keyframe interval and the frame rate's constancy come from packet timestamps, which ffprobe reads from
the file's data (an mp4's index does not list them): reading every packet of a 2 GB file costs seconds, of a
50 GB one minutes, so only the first PACKET_SAMPLE_S seconds are read. Encoders keep one GOP structure and
one frame rate through a file, so that window speaks for the whole."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from statistics import median
from typing import Any

from stream_task.command import source_whitelists
from stream_task.launch import DIRECT, Launch
from stream_task.probe import Probe, parse_probe, positive_seconds
from stream_task.progress import ProgressParser

PACKET_SAMPLE_S = 300
END_CHECK_S = 3.0
MAX_KEYFRAME_INTERVAL_S = 2.0
MAX_H264_LEVEL = 42  # ffprobe reports the level times ten
# Timestamps rounded to the container's clock (a millisecond in Matroska) jitter by a tick: 30 fps in WebM
# alternates 33 and 34 ms. A frame rate is constant when every frame lasts the median within this.
_CONSTANT_FRAME_TOLERANCE = 0.05
_SPLICE_SHARE = 0.01
_HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
_STILL_IMAGE_FORMATS = ("image2", "_pipe")  # a single picture (an animated GIF is a video)
# Bitrates above YouTube's recommendation by less than this are the encoder's VBV overshoot, not waste.
_BITRATE_SLACK = 1.10

# YouTube Live's recommended maximum video bitrate for H.264 SDR, in kbit/s, by picture height and frame
# rate (https://support.google.com/youtube/answer/2853702, "Live encoder settings, bitrates, and
# resolutions": 2160p60 20-51 Mbps, 2160p30 13-34, 1440p60 9-18, 1440p30 6-13, 1080p60 4.5-9, 1080p30 3-6,
# 720p60 2.25-6, 720p30 1.5-4, 480p 0.5-2, 360p 0.4-1, 240p 0.3-0.7). We stream live, so the live table's
# upper ends cap the conform, not the upload table's (which says 480p 2.5 Mbps, 1080p30 8).
YOUTUBE_MAX_VIDEO_KBPS: tuple[tuple[int, int, int], ...] = (
    # (height up to, kbit/s at <= 30 fps, kbit/s above 30 fps)
    (240, 700, 700),
    (360, 1000, 1000),
    (480, 2000, 2000),
    (720, 4000, 6000),
    (1080, 6000, 9000),
    (1440, 13000, 18000),
    (2160, 34000, 51000),
)


def youtube_max_video_kbps(width: int, height: int, fps: float) -> int:
    """YouTube's recommended ceiling for a picture this size (its short side: a portrait 1080x1920 is
    1080p) at this frame rate."""
    short_side = min(width, height)
    high_rate = fps > 30.5
    for up_to, at_30, at_60 in YOUTUBE_MAX_VIDEO_KBPS:
        if short_side <= up_to:
            return at_60 if high_rate else at_30
    return YOUTUBE_MAX_VIDEO_KBPS[-1][2 if high_rate else 1]


class MediaRejected(Exception):
    """The file cannot become a stream; `reason` says why in words for the person who uploaded it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VideoFacts:
    codec: str
    profile: str | None
    level: int | None
    pixel_format: str | None
    width: int  # as coded, before rotation
    height: int
    rotation: int  # clockwise degrees to turn the coded picture for display: 0, 90, 180 or 270
    fps: float | None
    constant_fps: bool
    longest_keyframe_interval_s: float | None  # None: no keyframe in the sample window
    peak_fps: float | None = None  # the rate of the shortest frame (a variable rate's intended one)
    color_transfer: str | None = None
    color_primaries: str | None = None
    color_space: str | None = None
    color_range: str | None = None
    field_order: str | None = None
    sample_aspect_ratio: Fraction = Fraction(1)
    bitrate_bps: int | None = None
    duration_s: float | None = None

    @property
    def display_width(self) -> int:
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation in (90, 270) else self.height

    @property
    def hdr(self) -> bool:
        return self.color_transfer in _HDR_TRANSFERS

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tt", "bb", "tb", "bt")


@dataclass(frozen=True)
class AudioFacts:
    codec: str
    profile: str | None
    sample_rate: int | None
    channels: int | None
    bitrate_bps: int | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class MediaFacts:
    duration_s: float
    container: str
    size_bytes: int | None
    bitrate_bps: int | None
    video: VideoFacts | None  # a moving picture; an audio file's cover art is not one
    audio: AudioFacts | None
    has_cover_art: bool = False
    title: str | None = None
    timing: Probe = field(default_factory=lambda: Probe(None, None, None))  # what the player reads

    @property
    def video_bitrate_bps(self) -> int | None:
        if self.video is None:
            return None
        if self.video.bitrate_bps:
            return self.video.bitrate_bps
        if self.bitrate_bps is None:
            return None
        audio_bps = (self.audio.bitrate_bps or 0) if self.audio else 0
        return max(self.bitrate_bps - audio_bps, 0)

    @property
    def not_stream_ready_because(self) -> tuple[str, ...]:
        """Why the engine cannot copy this file as it is, in plain words; empty when it can."""
        video, audio = self.video, self.audio
        if video is None:
            return ("it has no picture",)
        reasons: list[str] = []
        if video.codec != "h264":
            reasons.append(f"its video is {video.codec.upper()}, not H.264")
        elif video.level is None or video.level > MAX_H264_LEVEL:
            reasons.append("its H.264 level is above 4.2")
        if video.pixel_format != "yuv420p":
            reasons.append(f"its pixels are {video.pixel_format}, not yuv420p")
        if video.rotation:
            reasons.append(f"it must be turned {video.rotation}° to display")
        if video.width % 2 or video.height % 2:
            reasons.append("its size is odd")
        if video.hdr:
            reasons.append("it is HDR")
        if video.interlaced:
            reasons.append("it is interlaced")
        if video.sample_aspect_ratio != 1:
            reasons.append("its pixels are not square")
        if not video.constant_fps:
            reasons.append("its frame rate varies")
        if video.fps is None or video.fps > 60.5:
            reasons.append("its frame rate is above 60 fps")
        longest = video.longest_keyframe_interval_s
        tolerance = 0.5 / video.fps if video.fps else 0.0
        if longest is None or longest > MAX_KEYFRAME_INTERVAL_S + tolerance:
            apart = f"{longest:.1f} s" if longest is not None else "more than the sample"
            reasons.append(f"its keyframes are {apart} apart (at most 2 s)")
        if audio is None:
            reasons.append("it has no sound")
        elif audio.codec != "aac" or audio.profile != "LC":
            reasons.append(f"its sound is {audio.codec.upper()}, not AAC-LC")
        elif audio.sample_rate not in (44100, 48000) or audio.channels != 2:
            reasons.append("its sound is not 44.1 or 48 kHz stereo")
        video_bps = self.video_bitrate_bps
        if video_bps and video.fps:
            cap_kbps = youtube_max_video_kbps(video.display_width, video.display_height, video.fps)
            if video_bps > cap_kbps * 1000 * _BITRATE_SLACK:
                reasons.append(
                    f"its video bitrate ({video_bps / 1e6:.1f} Mbps) is above YouTube's "
                    f"{cap_kbps / 1000:g} Mbps for its size"
                )
        return tuple(reasons)

    @property
    def stream_ready(self) -> bool:
        return not self.not_stream_ready_because


def _integer(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rate(value: Any) -> float | None:
    """An ffprobe rational such as "30000/1001"; None for "0/0" or nonsense."""
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return float(rate) if rate > 0 else None


def _aspect(value: Any) -> Fraction:
    try:
        ratio = Fraction(str(value).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return Fraction(1)
    return ratio if ratio > 0 else Fraction(1)


def _rotation(stream: dict[str, Any]) -> int:
    """Clockwise degrees for display. The display matrix's `rotation` is counter-clockwise (ffprobe shows
    -90 for a phone held upright); the old `rotate` tag is clockwise."""
    for side_data in stream.get("side_data_list") or []:
        if side_data.get("side_data_type") == "Display Matrix" and "rotation" in side_data:
            return round(-float(side_data["rotation"])) % 360
    tag = _integer((stream.get("tags") or {}).get("rotate"))
    return tag % 360 if tag else 0


def _stream_seconds(stream: dict[str, Any]) -> float | None:
    """A stream's length: its own `duration`, else Matroska's DURATION tag (HH:MM:SS.nnnnnnnnn)."""
    seconds = positive_seconds(stream.get("duration"))
    if seconds is not None:
        return seconds
    tag = (stream.get("tags") or {}).get("DURATION")
    if not tag:
        return None
    try:
        hours, minutes, rest = str(tag).split(":")
        return positive_seconds(int(hours) * 3600 + int(minutes) * 60 + float(rest))
    except ValueError:
        return None


@dataclass(frozen=True)
class FrameTiming:
    constant_fps: bool
    longest_keyframe_interval_s: float | None
    peak_fps: float | None = None  # from the shortest frame: the rate a variable-rate camera aimed at
    end_s: float | None = None  # when the last picture ends: it lasts as long as the step before it


def frame_timing(packets: list[tuple[float, bool]]) -> FrameTiming:
    """From a video stream's packets as (presentation time, keyframe): whether frames are evenly spaced,
    and the longest stretch from one keyframe to the next (or to the end of what was read)."""
    times = sorted(pts for pts, _ in packets)
    if len(times) < 2:
        return FrameTiming(True, None)
    steps = [later - earlier for earlier, later in itertools.pairwise(times)]
    typical = median(steps)
    tolerance = max(typical * _CONSTANT_FRAME_TOLERANCE, 0.0011)
    # A few odd steps are splices (a looped or joined file holds a hole of a frame or two at each seam),
    # not a varying rate: a phone's variable rate moves a good share of its frames.
    odd = sum(1 for step in steps if abs(step - typical) > tolerance)
    constant = odd <= len(steps) * _SPLICE_SHARE
    # The 5th percentile rather than the shortest: one glitched timestamp does not make a 30 fps clip 100.
    positive = sorted(step for step in steps if step > 0)
    short = positive[len(positive) // 20] if positive else 0.0
    peak_fps = 1 / short if short > 0 else None
    end_s = times[-1] + (steps[-1] if steps[-1] > 0 else typical)
    keyframes = sorted(pts for pts, key in packets if key)
    if not keyframes:
        return FrameTiming(constant, None, peak_fps, end_s)
    end = times[-1] + typical  # the last frame lasts as long as the others
    stretches = [later - earlier for earlier, later in itertools.pairwise(keyframes)]
    stretches.append(end - keyframes[-1])
    return FrameTiming(constant, max(stretches), peak_fps, end_s)


def _is_cover_art(stream: dict[str, Any]) -> bool:
    return bool((stream.get("disposition") or {}).get("attached_pic"))


def parse_media_facts(document: dict[str, Any], size_bytes: int | None = None) -> MediaFacts:
    """Reads `ffprobe -show_format -show_streams -show_entries packet=stream_index,pts_time,flags -of json`.
    Raises MediaRejected for a file that holds nothing to play."""
    streams: list[dict[str, Any]] = document.get("streams") or []
    fmt: dict[str, Any] = document.get("format") or {}
    container = str(fmt.get("format_name") or "")
    video_stream = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    audio_stream = next((s for s in streams if s.get("codec_type") == "audio"), None)
    has_cover_art = any(s.get("codec_type") == "video" and _is_cover_art(s) for s in streams)
    if video_stream is None and audio_stream is None:
        raise MediaRejected("The file has neither picture nor sound: there is nothing in it to stream.")
    if audio_stream is None and any(part in container for part in _STILL_IMAGE_FORMATS):
        raise MediaRejected("This is a still picture, not a video: there is nothing in it to play.")
    duration = positive_seconds(fmt.get("duration"))
    stream_seconds = [s for s in (_stream_seconds(x) for x in (video_stream, audio_stream) if x) if s]
    duration = duration or (max(stream_seconds) if stream_seconds else None)
    if duration is None:
        raise MediaRejected("The file has no length: it may be damaged or cut short. Upload it again.")

    video: VideoFacts | None = None
    if video_stream is not None:
        index = video_stream.get("index")
        packets = [
            (seconds, "K" in str(packet.get("flags", "")))
            for packet in document.get("packets") or []
            if packet.get("stream_index") == index
            and (seconds := _finite(packet.get("pts_time"))) is not None
        ]
        timing = frame_timing(packets)
        fps = _rate(video_stream.get("avg_frame_rate")) or _rate(video_stream.get("r_frame_rate"))
        picture_s = _stream_seconds(video_stream)
        if timing.end_s is not None and duration < PACKET_SAMPLE_S:
            # Every packet was read: the picture lasts until its last frame ends, counted from the stream's
            # start (as its length is: packets an edit list leaves out come before it). The container's
            # length can stop short of that: an mp4 counts decode times, which with B-frames at a variable
            # rate are not spaced as the pictures (the conform would cut a phone clip's last 0.2 s off).
            start = _finite(video_stream.get("start_time"))
            shown_s = timing.end_s - (start if start is not None else min(p for p, _ in packets))
            picture_s = max(picture_s or 0.0, shown_s)
        video = VideoFacts(
            codec=str(video_stream.get("codec_name")),
            profile=video_stream.get("profile"),
            level=_integer(video_stream.get("level")),
            pixel_format=video_stream.get("pix_fmt"),
            width=_integer(video_stream.get("width")) or 0,
            height=_integer(video_stream.get("height")) or 0,
            rotation=_rotation(video_stream),
            fps=fps,
            constant_fps=timing.constant_fps,
            longest_keyframe_interval_s=timing.longest_keyframe_interval_s,
            peak_fps=timing.peak_fps,
            color_transfer=video_stream.get("color_transfer"),
            color_primaries=video_stream.get("color_primaries"),
            color_space=video_stream.get("color_space"),
            color_range=video_stream.get("color_range"),
            field_order=video_stream.get("field_order"),
            sample_aspect_ratio=_aspect(video_stream.get("sample_aspect_ratio")),
            bitrate_bps=_integer(video_stream.get("bit_rate")),
            duration_s=picture_s,
        )
        if video.width <= 0 or video.height <= 0:
            raise MediaRejected("The file's picture has no size: it may be damaged. Upload it again.")
    audio: AudioFacts | None = None
    if audio_stream is not None:
        audio = AudioFacts(
            codec=str(audio_stream.get("codec_name")),
            profile=audio_stream.get("profile"),
            sample_rate=_integer(audio_stream.get("sample_rate")),
            channels=_integer(audio_stream.get("channels")),
            bitrate_bps=_integer(audio_stream.get("bit_rate")),
            duration_s=_stream_seconds(audio_stream),
        )
    tags = {str(k).lower(): v for k, v in (fmt.get("tags") or {}).items()}
    return MediaFacts(
        duration_s=duration,
        container=container,
        size_bytes=size_bytes if size_bytes is not None else _integer(fmt.get("size")),
        bitrate_bps=_integer(fmt.get("bit_rate")),
        video=video,
        audio=audio,
        has_cover_art=has_cover_art,
        title=str(tags.get("title") or "").strip() or None,
        timing=parse_probe(document),
    )


# The boxes an mp4 or mov starts with: a file named .mp4 that starts otherwise was never one.
_MP4_FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
_NOT_MEDIA = "This is not a video or audio file we can read."
# ffprobe's words for the ways a file fails to open, and what they mean to the person who sent it.
_PROBE_ERRORS: tuple[tuple[str, str], ...] = (
    (
        "moov atom not found",
        "The file is incomplete: it ends before its index, so the upload or the export was cut short. "
        "Upload the complete file.",
    ),
    ("Invalid data found when processing input", _NOT_MEDIA),
    (
        "End of file",
        "The file is incomplete: it ends too early to be read. Upload the complete file.",
    ),
)


def _rejection(stderr: str, path: Path) -> MediaRejected:
    head = _head(path, 8)
    if head.startswith(b"%PDF"):
        return MediaRejected("This is a PDF document, not a video or audio file.")
    for needle, reason in _PROBE_ERRORS:
        if needle in stderr:
            if needle == "moov atom not found" and head[4:8] not in _MP4_FIRST_BOXES:
                return MediaRejected(_NOT_MEDIA)
            return MediaRejected(reason)
    first_line = next((line for line in stderr.splitlines() if line.strip()), "unknown error")
    detail = first_line.replace(f"{path}: ", "").strip()[:200]  # the path means nothing to its owner
    return MediaRejected(f"We could not read this file ({detail}).")


def _head(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(size)
    except OSError:
        return b""


def ffprobe_document(
    ffprobe: str, path: Path, timeout_s: float = 300, launch: Launch = DIRECT
) -> dict[str, Any]:
    """One ffprobe run: format, streams, and the first PACKET_SAMPLE_S seconds of packets (time, flags)."""
    result = launch.run(
        [
            ffprobe, "-v", "error", "-of", "json", *source_whitelists(str(path)),
            "-show_format", "-show_streams",
            "-show_entries", "packet=stream_index,pts_time,flags",
            "-read_intervals", f"%+{PACKET_SAMPLE_S}",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode != 0:
        raise _rejection(result.stderr, path)
    try:
        document: dict[str, Any] = json.loads(result.stdout)
    except ValueError as error:
        raise MediaRejected("We could not read this file (ffprobe gave no answer).") from error
    return document


def _ends_cleanly(
    ffmpeg: str, path: Path, facts: MediaFacts, timeout_s: float = 120, launch: Launch = DIRECT
) -> bool:
    """Decodes the last END_CHECK_S seconds: a file whose data stops before its index says (an upload cut
    short with the index at the front) decodes nothing there, or stops early with a read error."""
    window = min(END_CHECK_S, facts.duration_s)
    start = max(facts.duration_s - window, 0.0)
    process = launch.run(
        [
            ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-nostats",
            "-ss", f"{start:.3f}", *source_whitelists(str(path)), "-i", str(path),
            "-map", "0:V?", "-map", "0:a?", "-f", "null", "-progress", "pipe:1", "-",
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )  # fmt: skip
    parser, reached = ProgressParser(), 0.0
    for line in process.stdout.splitlines():
        snapshot = parser.feed(line)
        if snapshot is not None and snapshot.out_time_s is not None:
            reached = snapshot.out_time_s
    read_error = any(
        marker in process.stderr for marker in ("partial file", "Invalid data found", "error reading")
    )
    # ffmpeg's input seek lands on a keyframe before `start`: reaching half the window proves data is there.
    return process.returncode == 0 and not read_error and reached >= window * 0.5


def read_media_facts(ffprobe: str, ffmpeg: str, path: Path | str, launch: Launch = DIRECT) -> MediaFacts:
    """The facts of a file on disk, or MediaRejected with the reason a user can act on."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise MediaRejected("The file could not be found: upload it again.") from error
    if size == 0:
        raise MediaRejected("The file is empty (0 bytes): the upload did not carry it. Upload it again.")
    facts = parse_media_facts(ffprobe_document(ffprobe, path, launch=launch), size_bytes=size)
    if not _ends_cleanly(ffmpeg, path, facts, launch=launch):
        raise MediaRejected(
            "The file is incomplete: its last part is missing, so the upload or the export was cut short. "
            "Upload the complete file."
        )
    return facts
