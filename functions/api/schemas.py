"""The API's request and response shapes: pydantic models, so validation and the OpenAPI document agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from playout.models import Destination, Media, Stream, StreamEvent
from playout.pagination import Page

Limit = Field(default=25, ge=1, le=100)
MAX_UPLOAD_BYTES = 256 * 1024**3


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateMediaRequest(_Input):
    filename: str = Field(min_length=1, max_length=255)
    size_bytes: int = Field(gt=0, le=MAX_UPLOAD_BYTES)
    content_type: str = Field(pattern=r"^(video|audio)/[\w.+-]+$", max_length=100)


class UploadedPart(_Input):
    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=200)


class CompleteMediaRequest(_Input):
    parts: list[UploadedPart] = Field(min_length=1, max_length=10_000)


class CreateDestinationRequest(_Input):
    type: Literal["rtmp"] = "rtmp"
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=8, max_length=500)
    stream_key: str = Field(min_length=1, max_length=500, repr=False)


class CreateStreamRequest(_Input):
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=5000)
    privacy: Literal["public", "unlisted", "private"] = "unlisted"
    media_ids: list[str] = Field(min_length=1, max_length=500)
    destination_ids: list[str] = Field(min_length=1, max_length=10)
    loop: bool = False
    duration_s: int | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    scheduled_start: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with a UTC offset, in the future, at most a year ahead"
    )

    @field_validator("destination_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("destination_ids must be distinct")
        return value


class ScheduleRequest(_Input):
    scheduled_start: AwareDatetime = Field(
        description="ISO 8601 with a UTC offset, in the future, at most a year ahead"
    )


class PresignedPartOut(BaseModel):
    part_number: int
    url: str


class UploadOut(BaseModel):
    upload_id: str
    part_size: int
    parts: list[PresignedPartOut]


class VideoOut(BaseModel):
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None


class AudioOut(BaseModel):
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None


class MediaOut(BaseModel):
    media_id: str
    filename: str
    content_type: str
    size_bytes: int
    status: str
    duration_s: float | None
    video: VideoOut | None
    audio: AudioOut | None
    stream_ready: bool | None
    thumbnail_url: str | None = None
    error: str | None
    created_at: datetime

    @classmethod
    def of(cls, media: Media) -> MediaOut:
        return cls(
            media_id=media.media_id,
            filename=media.filename,
            content_type=media.content_type,
            size_bytes=int(media.size_bytes),
            status=media.status,
            duration_s=media.duration_s,
            video=VideoOut(**media.video.as_dict()) if media.video else None,
            audio=AudioOut(**media.audio.as_dict()) if media.audio else None,
            stream_ready=media.stream_ready,
            error=media.error,
            created_at=media.created_at,
        )


class CreatedMediaOut(BaseModel):
    media_id: str
    upload: UploadOut


class DestinationOut(BaseModel):
    destination_id: str
    type: str
    name: str
    url: str
    created_at: datetime

    @classmethod
    def of(cls, destination: Destination) -> DestinationOut:
        return cls(
            destination_id=destination.destination_id,
            type=destination.type,
            name=destination.name,
            url=destination.url,
            created_at=destination.created_at,
        )


class StreamDestinationOut(BaseModel):
    destination_id: str
    type: str
    status: str


class HealthOut(BaseModel):
    bitrate_kbps: float | None = None
    fps: float | None = None
    speed: float | None = None
    dropped_frames: int | None = None
    position_s: float | None = None
    item_index: int | None = None
    uptime_s: float | None = None
    updated_at: datetime | None = None


class StreamOut(BaseModel):
    stream_id: str
    title: str
    description: str
    privacy: str
    status: str
    media_ids: list[str]
    loop: bool
    duration_s: int | None
    scheduled_start: datetime | None = None
    started_at: datetime | None
    ended_at: datetime | None
    destinations: list[StreamDestinationOut]
    health: HealthOut | None
    error: str | None
    created_at: datetime

    @classmethod
    def of(cls, stream: Stream) -> StreamOut:
        # Per-destination status arrives with simulcast health; until then each follows the stream.
        return cls(
            stream_id=stream.stream_id,
            title=stream.title,
            description=stream.description,
            privacy=stream.privacy,
            status=stream.status,
            media_ids=[str(m) for m in stream.media_ids],
            loop=stream.loop,
            duration_s=int(stream.duration_s) if stream.duration_s else None,
            scheduled_start=stream.scheduled_start,
            started_at=stream.started_at,
            ended_at=stream.ended_at,
            destinations=[
                StreamDestinationOut(destination_id=str(d), type="rtmp", status=stream.status)
                for d in stream.destination_ids
            ],
            health=HealthOut(**stream.health.as_dict()) if stream.health else None,
            error=stream.error,
            created_at=stream.created_at,
        )


class EventOut(BaseModel):
    type: str
    message: str
    at: datetime

    @classmethod
    def of(cls, event: StreamEvent) -> EventOut:
        return cls(type=event.type, message=event.message, at=event.created_at)


class MeOut(BaseModel):
    user_id: str
    email: str | None
    storage_used_bytes: int
    storage_quota_bytes: int
    active_streams: int
    max_concurrent_streams: int


class ListOut(BaseModel):
    items: list[Any]
    next_cursor: str | None


def page_out(page: Page[Any], convert: Any) -> dict[str, Any]:
    return {
        "items": [convert(item).model_dump(mode="json") for item in page.items],
        "next_cursor": page.next_cursor,
    }
