"""The ffmpeg command line of a stream: an ffconcat playlist, copied (never re-encoded) to every ingest
through one tee muxer, so a failing destination does not take the others down."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# FLV codec ids for H.264 and AAC. ffmpeg 5.1's tee muxer hands the input's MP4 tags (avc1, mp4a) to
# its FLV slaves, which refuse them ("Tag avc1 incompatible with output codec id '27'"); stream-ready
# media are H.264/AAC, so the FLV tags are stated outright.
FLV_VIDEO_TAG = "7"
FLV_AUDIO_TAG = "10"
_TEE_SPECIAL = "\\'|[]"
# What an ffmpeg that reads FLV from a pipe and pushes it to an RTMP(S) ingest needs, and nothing else
# (no file, http, concat...): `-protocol_whitelist` before an output URL, or as `protocol_whitelist=` in a
# tee slave's options, since ffmpeg 5.1's tee muxer does not pass the output's whitelist to its slaves.
INGEST_PROTOCOLS = "rtmp,rtmps,tcp,tls,pipe"


@dataclass(frozen=True)
class PlayItem:
    path: Path
    outpoint_s: float | None = None
    inpoint_s: float | None = None  # where a resumed run enters its first item


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def ffconcat(items: Sequence[PlayItem]) -> str:
    """An ffconcat list; `outpoint` ends an item at its video's end when its audio runs longer, which
    keeps the seams gapless (a longer audio tail leaves a hole of ~110 ms at every loop)."""
    lines = ["ffconcat version 1.0"]
    for item in items:
        lines.append(f"file {_quote(item.path)}")
        if item.inpoint_s:
            lines.append(f"inpoint {item.inpoint_s:.6f}")
        if item.outpoint_s is not None:
            lines.append(f"outpoint {item.outpoint_s:.6f}")
    return "\n".join(lines) + "\n"


def escape_tee(url: str) -> str:
    """Escapes what the tee muxer's slave list gives a meaning to (the slave separator, option brackets,
    quotes and backslashes)."""
    return "".join("\\" + char if char in _TEE_SPECIAL else char for char in url)


def tee_spec(urls: Sequence[str]) -> str:
    return "|".join(f"[f=flv:onfail=ignore]{escape_tee(url)}" for url in urls)


def build_argv(
    *,
    ffmpeg: str,
    concat_list: Path,
    urls: Sequence[str],
    loop: bool = False,
    duration_s: float | None = None,
) -> list[str]:
    """The ffmpeg argv; `duration_s` bounds the run. A resumed run starts from a list that begins where
    the last task stopped: `-ss` is not used, as with `-stream_loop` ffmpeg 5.1 then offsets every loop by
    the part played instead of the whole, and timestamps run backwards. The argv holds the ingest URLs,
    stream keys included: never log it."""
    if not urls:
        raise ValueError("a stream needs at least one ingest URL")
    argv = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-progress",
        "pipe:1",
        "-stats_period",
        "1",
    ]
    argv += ["-re"]
    if loop:
        argv += ["-stream_loop", "-1"]
    argv += ["-f", "concat", "-safe", "0", "-i", str(concat_list)]
    argv += [
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
        "-tag:v",
        FLV_VIDEO_TAG,
        "-tag:a",
        FLV_AUDIO_TAG,
    ]
    if duration_s is not None:
        argv += ["-t", f"{duration_s:.3f}"]
    argv += ["-f", "tee", "-flags", "+global_header", tee_spec(urls)]
    return argv
