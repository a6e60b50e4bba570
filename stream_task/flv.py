"""FLV, the container RTMP carries: just enough to read tags from one ffmpeg and write them to another.

The stream task splices the output of many short-lived readers (one per playlist item) into one
continuous stream per ingest. That needs tag boundaries, timestamps, keyframes and the codec sequence
headers, and nothing more: a tag is an 11-byte header, a body and a 4-byte back-pointer (Adobe FLV spec
v10.1, annex E). Hand-written because no maintained Python library reads FLV from a pipe tag by tag."""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO, Final

HEADER_SIZE: Final = 9
TAG_HEADER_SIZE: Final = 11
MAX_TIMESTAMP_MS: Final = 0x7FFFFFFF  # signed 32 bits on the wire: what wraps after 24.8 days
_SIGNATURE: Final = b"FLV\x01"
_HAS_AUDIO, _HAS_VIDEO = 0x04, 0x01

_VIDEO_KEYFRAME: Final = 1
_CODEC_AVC: Final = 7
_SOUND_AAC: Final = 10
_PACKET_SEQUENCE_HEADER: Final = 0
_AVC_NALU: Final = 1


class TagKind(enum.IntEnum):
    AUDIO = 8
    VIDEO = 9
    SCRIPT = 18


class FlvError(ValueError):
    """The bytes are not FLV, or the stream was cut inside a tag."""


@dataclass(frozen=True, slots=True)
class Tag:
    kind: TagKind
    timestamp_ms: int
    body: bytes

    @property
    def is_video(self) -> bool:
        return self.kind is TagKind.VIDEO

    @property
    def is_audio(self) -> bool:
        return self.kind is TagKind.AUDIO

    @property
    def is_keyframe(self) -> bool:
        return self.is_video and bool(self.body) and self.body[0] >> 4 == _VIDEO_KEYFRAME

    @property
    def is_sequence_header(self) -> bool:
        """The codec configuration (AVCDecoderConfigurationRecord or AudioSpecificConfig), not media."""
        if len(self.body) < 2:
            return False
        if self.is_video:
            return self.body[0] & 0x0F == _CODEC_AVC and self.body[1] == _PACKET_SEQUENCE_HEADER
        if self.is_audio:
            return self.body[0] >> 4 == _SOUND_AAC and self.body[1] == _PACKET_SEQUENCE_HEADER
        return False

    @property
    def is_media(self) -> bool:
        return (self.is_video or self.is_audio) and not self.is_sequence_header

    @property
    def presentation_ms(self) -> int:
        """When the frame shows: the (decode) timestamp plus H.264's composition offset, a signed 24-bit
        field after the packet type (B-frames show after later frames are decoded)."""
        body = self.body
        if not (self.is_video and len(body) >= 5 and body[0] & 0x0F == _CODEC_AVC and body[1] == _AVC_NALU):
            return self.timestamp_ms
        offset = int.from_bytes(body[2:5], "big")
        return self.timestamp_ms + (offset - (1 << 24) if offset & 0x800000 else offset)

    def at(self, timestamp_ms: int) -> Tag:
        return replace(self, timestamp_ms=timestamp_ms)

    def encode(self) -> bytes:
        """The tag as written in a file or pipe, back-pointer included."""
        if not 0 <= self.timestamp_ms <= MAX_TIMESTAMP_MS:
            raise FlvError(f"timestamp {self.timestamp_ms} ms is outside FLV's range")
        size = len(self.body)
        ts = self.timestamp_ms
        header = (
            bytes([int(self.kind)])
            + size.to_bytes(3, "big")
            + (ts & 0xFFFFFF).to_bytes(3, "big")
            + bytes([(ts >> 24) & 0xFF])
            + b"\x00\x00\x00"
        )
        return header + self.body + struct.pack(">I", TAG_HEADER_SIZE + size)


def file_header(*, audio: bool = True, video: bool = True) -> bytes:
    """The 9-byte FLV header and the first (zero) back-pointer."""
    flags = (_HAS_AUDIO if audio else 0) | (_HAS_VIDEO if video else 0)
    return _SIGNATURE + bytes([flags]) + struct.pack(">I", HEADER_SIZE) + b"\x00\x00\x00\x00"


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_tags(stream: BinaryIO) -> Iterator[Tag]:
    """Tags from an FLV byte stream until it ends. Raises FlvError on bytes that are not FLV, or a stream
    cut inside a tag (what a killed writer leaves)."""
    header = _read_exactly(stream, HEADER_SIZE)
    if not header:
        return
    if len(header) < HEADER_SIZE or header[:3] != b"FLV":
        raise FlvError("not an FLV stream")
    data_offset = struct.unpack(">I", header[5:9])[0]
    if data_offset > HEADER_SIZE:
        _read_exactly(stream, data_offset - HEADER_SIZE)
    _read_exactly(stream, 4)  # the first back-pointer
    while True:
        head = _read_exactly(stream, TAG_HEADER_SIZE)
        if not head:
            return
        if len(head) < TAG_HEADER_SIZE:
            raise FlvError("the stream ended inside a tag header")
        kind = head[0] & 0x1F
        size = int.from_bytes(head[1:4], "big")
        timestamp = int.from_bytes(head[4:7], "big") | (head[7] << 24)
        body = _read_exactly(stream, size)
        trailer = _read_exactly(stream, 4)
        if len(body) < size or len(trailer) < 4:
            raise FlvError("the stream ended inside a tag")
        if kind in (TagKind.AUDIO, TagKind.VIDEO, TagKind.SCRIPT):
            yield Tag(TagKind(kind), timestamp, body)
