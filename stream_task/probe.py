"""Probing media with ffprobe: what the playlist needs to time each item (its picture's length, whether it
has sound, and whether that sound can go out as it is)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream_task.command import source_whitelists
from stream_task.launch import DIRECT, Launch

# Audio longer than the video by less than this is not worth an outpoint (container rounding).
_OUTLAST_EPSILON_S = 0.001
AAC_FRAME_S = 1024 / 48000


@dataclass(frozen=True)
class Probe:
    duration_s: float | None
    video_s: float | None
    audio_s: float | None
    has_video: bool = True
    has_audio: bool = True
    audio_codec: str | None = None
    audio_profile: str | None = None
    sample_rate: int | None = None
    channels: int | None = None

    @property
    def audio_copyable(self) -> bool:
        """Sound already in the output's form (AAC-LC, 48 kHz, stereo) and as long as the picture to within
        one AAC frame, as a conformed file's is: it can be copied, which costs a tenth of encoding it."""
        if self.video_s is None or self.audio_s is None:
            return False
        return (
            self.audio_codec == "aac"
            and self.audio_profile == "LC"
            and self.sample_rate == 48000
            and self.channels == 2
            and abs(self.audio_s - self.video_s) <= AAC_FRAME_S
        )

    @property
    def outpoint_s(self) -> float | None:
        """The video's end when the audio outlasts it, else None (play the whole file)."""
        if self.video_s is None or self.audio_s is None:
            return None
        return self.video_s if self.audio_s - self.video_s > _OUTLAST_EPSILON_S else None

    @property
    def played_s(self) -> float | None:
        return self.outpoint_s if self.outpoint_s is not None else self.duration_s


def positive_seconds(value: Any) -> float | None:
    """A duration or position read from ffprobe or DynamoDB; None unless a positive number."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def parse_probe(document: dict[str, Any]) -> Probe:
    """Reads `ffprobe -show_entries stream=codec_type,codec_name,...,duration:format=duration -of json`."""
    streams = document.get("streams") or []

    def first(kind: str) -> float | None:
        durations = (s.get("duration") for s in streams if s.get("codec_type") == kind)
        return next((positive_seconds(d) for d in durations), None)

    container_s = positive_seconds((document.get("format") or {}).get("duration"))
    kinds = {s.get("codec_type") for s in streams}
    audio: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "audio"), {})
    return Probe(
        container_s,
        first("video"),
        first("audio"),
        "video" in kinds,
        "audio" in kinds,
        audio_codec=audio.get("codec_name"),
        audio_profile=audio.get("profile"),
        sample_rate=_integer(audio.get("sample_rate")),
        channels=_integer(audio.get("channels")),
    )


def _integer(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def probe(ffprobe: str, path: Path | str, timeout_s: float = 60, launch: Launch = DIRECT) -> Probe | None:
    """None when ffprobe is missing or fails: the playlist then plays whole files."""
    try:
        result = launch.run(
            [
                ffprobe,
                "-v",
                "error",
                *source_whitelists(str(path)),
                "-show_entries",
                "stream=codec_type,codec_name,profile,sample_rate,channels,duration:format=duration",
                "-of",
                "json",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return parse_probe(json.loads(result.stdout))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
