"""The splicer, on tags shaped like a reader's output: what ffmpeg 5.1 writes for H.264 copied at 30 fps
with AAC encoded at 48 kHz (first video at 0, the encoder's priming packet at 46 ms, then every 21.3 ms)."""

from __future__ import annotations

import io
import itertools

import pytest

from stream_task.flv import FlvError, Tag, TagKind, file_header, read_tags
from stream_task.splice import AAC_FRAME_MS, splice

AVC_HEADER = bytes([0x17, 0x00, 0, 0, 0]) + b"avcC-1"
AAC_HEADER = bytes([0xAF, 0x00]) + b"\x11\x90"


def segment(seconds: float, avc_header: bytes = AVC_HEADER, audio_extra_ms: float = 6.0) -> list[Tag]:
    tags = [Tag(TagKind.SCRIPT, 0, b"onMetaData"), Tag(TagKind.VIDEO, 0, avc_header)]
    tags.append(Tag(TagKind.AUDIO, 0, AAC_HEADER))
    frames = round(seconds * 30)
    video = [
        Tag(TagKind.VIDEO, round(i * 1000 / 30), bytes([0x17 if i % 60 == 0 else 0x27, 1, 0, 0, 0]) + b"v")
        for i in range(frames)
    ]
    # The picture shows from 67 ms (B-frame delay); the priming packet sits 21 ms before the sound.
    audio_end = 67 + seconds * 1000 + audio_extra_ms
    audio = []
    t = 67.0 - AAC_FRAME_MS
    while t < audio_end:
        audio.append(Tag(TagKind.AUDIO, round(t), bytes([0xAF, 1]) + b"a"))
        t += AAC_FRAME_MS
    return sorted([*tags, *video, *audio], key=lambda tag: (tag.timestamp_ms, tag.kind is TagKind.AUDIO))


def media(tags: list[Tag], kind: TagKind) -> list[int]:
    return [t.timestamp_ms for t in tags if t.kind is kind and t.is_media]


def test_seams_keep_video_continuous_and_audio_in_step_after_many_items() -> None:
    out = splice([segment(10.0), segment(8.0), segment(7.0)] * 20)
    video, audio = media(out, TagKind.VIDEO), media(out, TagKind.AUDIO)
    steps = [b - a for a, b in itertools.pairwise(video)]
    assert min(steps) > 0, "video timestamps never go back or repeat"
    assert max(steps) <= 34, "no video gap at any seam"
    audio_steps = [b - a for a, b in itertools.pairwise(audio)]
    assert min(audio_steps) > 0
    assert max(audio_steps) <= 2 * AAC_FRAME_MS + 1, "no audio hole longer than one AAC frame"
    video_end = video[-1] + 1000 / 30
    audio_end = audio[-1] + AAC_FRAME_MS
    picture_end = video_end + 67  # decode time plus the B-frame delay
    assert abs(audio_end - picture_end) < 1000 / 30, "after 60 seams audio and video still end together"


def test_only_changed_sequence_headers_and_one_script_tag_are_sent() -> None:
    out = splice([segment(2.0), segment(2.0), segment(2.0, avc_header=AVC_HEADER + b"-other")])
    headers = [t for t in out if t.is_sequence_header]
    assert [t.kind for t in headers] == [TagKind.VIDEO, TagKind.AUDIO, TagKind.VIDEO]
    assert headers[-1].timestamp_ms >= 3990, "the new picture's header comes at the seam, not at 0"
    assert sum(1 for t in out if t.kind is TagKind.SCRIPT) == 1


def test_each_later_segment_drops_its_encoders_priming_packet() -> None:
    one = splice([segment(2.0)])
    two = splice([segment(2.0), segment(2.0)])
    assert len(media(two, TagKind.AUDIO)) <= 2 * len(media(one, TagKind.AUDIO)) - 1


def test_tags_round_trip_through_flv_bytes() -> None:
    tags = splice([segment(1.0)])
    data = file_header() + b"".join(t.encode() for t in tags)
    assert list(read_tags(io.BytesIO(data))) == tags


def test_a_stream_cut_inside_a_tag_is_an_error() -> None:
    data = file_header() + Tag(TagKind.VIDEO, 5, b"\x17\x01abc").encode()
    with pytest.raises(FlvError):
        list(read_tags(io.BytesIO(data[:-3])))
    with pytest.raises(FlvError):
        list(read_tags(io.BytesIO(b"not flv at all")))
