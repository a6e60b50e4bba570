"""Reads one playlist entry (or the rest of one) with ffmpeg into FLV tags: the picture copied as it is,
the sound encoded to AAC-LC 48 kHz stereo (which makes every item's audio alike, whatever its rate,
channels or priming) and exactly as long as the picture; or copied too, when it already is so (a
conformed file) and the item plays from its start."""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass

from stream_task.command import ENGINE_DEMUXERS, source_whitelists
from stream_task.flv import FlvError, Tag, read_tags
from stream_task.launch import DIRECT, Launch
from stream_task.process import ChildProcess, Log

AUDIO_BITRATE = "160k"
_QUEUE_TAGS = 512  # a pipe read ahead of the engine: bounded, so memory stays flat


@dataclass(frozen=True)
class Part:
    """What one reader plays: `source` (a path or an https URL) from `start_s` for `duration_s`."""

    source: str
    start_s: float = 0.0
    duration_s: float | None = None
    has_audio: bool = True
    copy_audio: bool = False


def reader_argv(ffmpeg: str, part: Part) -> list[str]:
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning"]
    # A staged file, or S3 over HTTPS when an item is read before it is staged: one or the other.
    argv += source_whitelists(part.source, ENGINE_DEMUXERS)
    if part.source.startswith(("http://", "https://")):
        argv += ["-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_delay_max", "4"]
        argv += ["-rw_timeout", "15000000"]
    if part.start_s > 0:
        argv += ["-ss", f"{part.start_s:.3f}"]
    argv += ["-i", part.source]
    audio_input = "0:a:0"
    if not part.has_audio:
        argv += [
            "-format_whitelist",
            "lavfi",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=channel_layout=stereo:sample_rate=48000",
        ]
        audio_input = "1:a:0"
    argv += ["-map", "0:v:0", "-map", audio_input, "-c:v", "copy"]
    if part.copy_audio and part.has_audio and part.start_s == 0:
        # Already the output's form and length; mid-item (a seek) its start would not line up with the
        # picture's keyframe, so a resumed or restarted part encodes.
        argv += ["-c:a", "copy"]
    else:
        argv += ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", "48000", "-ac", "2"]
        # async fills holes and trims overlaps in the source's audio; apad + -t make it exactly as long as
        # the picture, so no item leaves the sound ahead of or behind the picture at its end.
        argv += ["-af", "aresample=async=1:first_pts=0,apad"]
    if part.duration_s is not None:
        argv += ["-t", f"{max(part.duration_s, 0.001):.3f}"]
    elif not part.has_audio:
        argv += ["-shortest"]
    argv += ["-f", "flv", "-flvflags", "no_duration_filesize", "pipe:1"]
    return argv


@dataclass(frozen=True)
class ReaderEnd:
    """The reader's last word: its exit code, and why when it failed."""

    returncode: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.error is None


class ItemReader:
    """An ffmpeg reading one Part; its tags arrive on `tags` (a Tag, then finally a ReaderEnd)."""

    def __init__(
        self,
        ffmpeg: str,
        part: Part,
        *,
        redact: Callable[[str], str],
        logger: Log | None = None,
        launch: Launch = DIRECT,
    ) -> None:
        self.part = part
        self.tags: queue.Queue[Tag | ReaderEnd] = queue.Queue(maxsize=_QUEUE_TAGS)
        # Set once ffmpeg's output is read to its end: what it made now waits in `tags` alone, seconds of it.
        self.read_out = threading.Event()
        self._closed = threading.Event()
        self.child = ChildProcess(
            reader_argv(ffmpeg, part),
            name="reader",
            stdout=subprocess.PIPE,
            redact=redact,
            logger=logger,
            launch=launch,
        )
        self._thread = threading.Thread(target=self._pump, name="reader-pump", daemon=True)
        self._thread.start()

    def _put(self, item: Tag | ReaderEnd) -> bool:
        while not self._closed.is_set():
            try:
                self.tags.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self) -> None:
        stdout = self.child.stdout
        assert stdout is not None
        error: str | None = None
        try:
            for tag in read_tags(stdout):  # type: ignore[arg-type]  # a pipe is a binary stream
                if not self._put(tag):
                    break
        except FlvError as problem:
            error = str(problem)
        except OSError as problem:
            error = f"reading ffmpeg's output failed: {problem}"
        finally:
            stdout.close()
        code = self.child.wait() if not self._closed.is_set() else self.child.kill()
        self.read_out.set()
        if code != 0 and error is None:
            error = self.child.reason(f"ffmpeg exited with code {code}")
        self._put(ReaderEnd(code, error))

    def close(self) -> None:
        """Stops reading now (the engine moved on, or is stopping)."""
        self._closed.set()
        self.child.kill()
        self._thread.join(timeout=5)
