"""Joins the FLV of successive readers (one per playlist item, or a resumed part of one) into one stream
whose timestamps never go back and never jump.

Each reader starts its own timeline at about zero and its own AAC encoder, whose first packet is priming
(encoder delay) that FLV cannot mark as such. At a seam the splicer:
- continues the video's decode timestamps one frame after the last (B-frame delay included, so DTS stay
  monotonic and the picture has no gap);
- maps the new audio with the same shift as the video, drops the new encoder's priming packet, then lays
  audio packets back to back; a packet that would put the audio more than half a frame ahead of the
  picture is dropped, and a hole longer than half a frame is left as a hole, so audio and video never
  drift apart whatever the number of seams;
- sends the codec sequence headers again only when they change (another resolution or encoder), and the
  script (metadata) tag only once.

Where the stream ends, `ends_together` trims its last tags so that sound and picture stop together: a
reader cut inside an item (a stream's length limit) copies the picture up to a decode time, which is the
B-frame delay (two frames from x264) past the point where its sound, encoded, is cut.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stream_task.flv import Tag, TagKind

AAC_FRAME_MS = 1024 * 1000 / 48000  # what every reader encodes: AAC-LC, 48 kHz
DEFAULT_FRAME_MS = 1000 / 30


@dataclass
class _Segment:
    shift_ms: float | None = None
    priming_dropped: bool = False
    video_steps: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    last_video_in: float | None = None


class Splicer:
    """Feed it the tags of one segment after another (`begin_segment` between them); it answers the
    tags to send, on one continuous timeline starting at 0 ms."""

    def __init__(self) -> None:
        self._headers: dict[TagKind, bytes] = {}
        self._script_sent = False
        self._segment: _Segment | None = None
        self._segments = 0
        self._last_video_out: float | None = None
        self._frame_ms = DEFAULT_FRAME_MS
        self._audio_clock: float | None = None
        self.audio_dropped = 0

    # --- what the engine asks ---

    @property
    def video_end_ms(self) -> float:
        """Where the next frame would go: the stream's length in output time."""
        return 0.0 if self._last_video_out is None else self._last_video_out + self._frame_ms

    @property
    def frame_ms(self) -> float:
        """One picture's duration, as the last whole segment measured it."""
        return self._frame_ms

    def begin_segment(self) -> None:
        if self._segment is not None and len(self._segment.video_steps) >= 2:
            self._frame_ms = statistics.median(self._segment.video_steps)
        self._segment = _Segment()
        self._segments += 1

    # --- the tags ---

    def feed(self, tag: Tag) -> list[Tag]:
        segment = self._segment
        if segment is None:
            raise RuntimeError("begin_segment() first")
        if tag.kind is TagKind.SCRIPT:
            if self._script_sent:
                return []
            self._script_sent = True
            return [tag.at(0)]
        if tag.is_sequence_header:
            if self._headers.get(tag.kind) == tag.body:
                return []
            self._headers[tag.kind] = tag.body
            return [tag.at(self._now())]
        if tag.is_video:
            return self._video(segment, tag)
        return self._audio(segment, tag)

    def _now(self) -> int:
        return round(self.video_end_ms)

    def _video(self, segment: _Segment, tag: Tag) -> list[Tag]:
        if segment.shift_ms is None:
            start = 0.0 if self._last_video_out is None else self._last_video_out + self._frame_ms
            segment.shift_ms = start - tag.timestamp_ms
        if segment.last_video_in is not None:
            step = tag.timestamp_ms - segment.last_video_in
            if step > 0:
                segment.video_steps.append(step)
        segment.last_video_in = tag.timestamp_ms
        out = tag.timestamp_ms + segment.shift_ms
        if self._last_video_out is not None and out <= self._last_video_out:
            out = self._last_video_out + 1  # never back, never equal: a receiver would drop the frame
        self._last_video_out = out
        return [tag.at(round(out))]

    def _audio(self, segment: _Segment, tag: Tag) -> list[Tag]:
        if segment.shift_ms is None:
            return []  # audio before the segment's first picture has nothing to line up with
        if self._segments > 1 and not segment.priming_dropped:
            segment.priming_dropped = True
            self.audio_dropped += 1
            return []
        wanted = tag.timestamp_ms + segment.shift_ms
        if self._audio_clock is None:
            self._audio_clock = wanted
        else:
            contiguous = self._audio_clock + AAC_FRAME_MS
            if contiguous - wanted > AAC_FRAME_MS / 2:
                self.audio_dropped += 1
                return []
            self._audio_clock = wanted if wanted - contiguous > AAC_FRAME_MS / 2 else contiguous
        return [tag.at(round(self._audio_clock))]


def ends_together(tags: Sequence[Tag], frame_ms: float) -> list[bool]:
    """Which of the stream's last tags to keep so that its sound and picture end within a frame of each
    other. The picture is cut in decode order (the first frame that would show past the sound's end, and
    every frame after it, so that no frame kept refers to one dropped); then the sound by whole packets
    (those that start after the picture's end, give or take half a packet)."""
    keep = [True] * len(tags)
    video = [i for i, tag in enumerate(tags) if tag.is_video and tag.is_media]
    audio = [i for i, tag in enumerate(tags) if tag.is_audio and tag.is_media]
    if not video or not audio:
        return keep
    audio_end = tags[audio[-1]].timestamp_ms + AAC_FRAME_MS
    cut = next((i for i in video if tags[i].presentation_ms + frame_ms / 2 > audio_end), None)
    if cut is not None and cut > video[0]:
        for i in video:
            keep[i] = i < cut
    video_end = max(tags[i].presentation_ms for i in video if keep[i]) + frame_ms
    for i in audio:
        if tags[i].timestamp_ms + AAC_FRAME_MS / 2 > video_end:
            keep[i] = False
    return keep


def splice(segments: Iterable[Iterable[Tag]]) -> list[Tag]:
    """Splices whole segments at once (tests and tools)."""
    splicer = Splicer()
    out: list[Tag] = []
    for segment in segments:
        splicer.begin_segment()
        for tag in segment:
            out.extend(splicer.feed(tag))
    return out
