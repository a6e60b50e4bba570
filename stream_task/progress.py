"""Parses ffmpeg's `-progress pipe:1` output (blocks of key=value lines, each closed by `progress=...`)
into typed snapshots, and turns a snapshot into the stream's health."""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Item:
    """A playlist entry as played: its duration (None if unknown) and its average bitrate."""

    duration_s: float | None = None
    bitrate_kbps: float | None = None


@dataclass(frozen=True)
class Timeline:
    """Where output time falls in the playlist: ffmpeg's out_time counts from the start of this process,
    which began at `start_s` into the playlist and wraps around it when the stream loops."""

    items: tuple[Item, ...]
    loop: bool = False
    start_s: float = 0.0

    @property
    def total_s(self) -> float | None:
        durations = [item.duration_s for item in self.items]
        if not durations or any(d is None or d <= 0 for d in durations):
            return None
        return float(sum(d for d in durations if d is not None))

    def starts(self) -> list[float] | None:
        """Where each item starts in the playlist, when every duration is known."""
        if self.total_s is None:
            return None
        return [0.0, *itertools.accumulate(item.duration_s or 0.0 for item in self.items)][:-1]

    def seek(self, position_s: float) -> tuple[int, float] | None:
        """(item, seconds into it) at a playlist position; None when durations are unknown."""
        starts, total = self.starts(), self.total_s
        if starts is None or total is None:
            return None
        position = position_s % total if self.loop else min(position_s, total)
        index = max(0, bisect.bisect_right(starts, position) - 1)
        return index, position - starts[index]

    def locate(self, out_time_s: float) -> tuple[float, int | None]:
        """(position in the playlist in seconds, index of the item playing there)."""
        position = self.start_s + out_time_s
        total = self.total_s
        if total is None:
            return position, 0 if len(self.items) == 1 else None
        if self.loop:
            position %= total
        ends = list(itertools.accumulate(item.duration_s or 0.0 for item in self.items))
        return position, min(bisect.bisect_right(ends, position), len(ends) - 1)


def health(progress: Progress | None, timeline: Timeline, uptime_s: float) -> dict[str, Any]:
    """The health map the API shows (None values are left out: DynamoDB stores no nulls in it).

    With `-f tee` ffmpeg knows no output size, so it reports bitrate=N/A; as the stream is copied, the
    playing item's average bitrate is what goes out, and stands in for it."""
    values: dict[str, Any] = {"uptime_s": round(uptime_s, 1)}
    if progress is not None:
        values |= {"fps": progress.fps, "speed": progress.speed, "dropped_frames": progress.drop_frames}
        bitrate = progress.bitrate_kbps
        if progress.out_time_s is not None:
            position, index = timeline.locate(progress.out_time_s)
            values |= {"position_s": round(position, 3), "item_index": index}
            if bitrate is None and index is not None:
                bitrate = timeline.items[index].bitrate_kbps
        values["bitrate_kbps"] = None if bitrate is None else round(bitrate, 1)
    return {key: value for key, value in values.items() if value is not None}
