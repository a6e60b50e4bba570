"""Parses ffmpeg's `-progress pipe:1` output (blocks of key=value lines, each closed by `progress=...`)
into typed snapshots."""

from __future__ import annotations

import re
from dataclasses import dataclass

_BITRATE = re.compile(r"^\s*([0-9.]+)\s*kbits/s\s*$")
_SPEED = re.compile(r"^\s*([0-9.]+)\s*x\s*$")
_CLOCK = re.compile(r"^(-?)(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class Progress:
    """One `-progress` block. Fields ffmpeg reported as N/A (or not at all) are None."""

    frame: int | None = None
    fps: float | None = None
    bitrate_kbps: float | None = None
    total_size: int | None = None
    out_time_s: float | None = None
    dup_frames: int | None = None
    drop_frames: int | None = None
    speed: float | None = None
    ended: bool = False

    @property
    def playing(self) -> bool:
        return self.out_time_s is not None and self.out_time_s > 0


def _int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def _float(value: str) -> float | None:
    try:
        return float(value.strip())
    except ValueError:
        return None


def _match_float(pattern: re.Pattern[str], value: str) -> float | None:
    match = pattern.match(value)
    return float(match.group(1)) if match else None


def _clock(value: str) -> float | None:
    match = _CLOCK.match(value.strip())
    if not match:
        return None
    sign, hours, minutes, seconds = match.groups()
    total = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return -total if sign else total


def _out_time(fields: dict[str, str]) -> float | None:
    """out_time_us first; out_time_ms is also microseconds (a long-standing ffmpeg quirk); then the clock."""
    seconds: float | None = None
    for key in ("out_time_us", "out_time_ms"):
        if key in fields and (micros := _int(fields[key])) is not None:
            seconds = micros / 1_000_000
            break
    else:
        if "out_time" in fields:
            seconds = _clock(fields["out_time"])
    # Before the first packet ffmpeg may print N/A or a huge negative time.
    return None if seconds is None or seconds < 0 else seconds


class ProgressParser:
    """Feed it stdout lines; it answers a Progress at the end of each block."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def feed(self, line: str) -> Progress | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        key = key.strip()
        if key != "progress":
            self._fields[key] = value.strip()
            return None
        fields, self._fields = self._fields, {}
        return Progress(
            frame=_int(fields.get("frame", "")),
            fps=_float(fields.get("fps", "")),
            bitrate_kbps=_match_float(_BITRATE, fields.get("bitrate", "")),
            total_size=_int(fields.get("total_size", "")),
            out_time_s=_out_time(fields),
            dup_frames=_int(fields.get("dup_frames", "")),
            drop_frames=_int(fields.get("drop_frames", "")),
            speed=_match_float(_SPEED, fields.get("speed", "")),
            ended=value.strip() == "end",
        )
