"""The API's request and response shapes: pydantic models, so validation and the OpenAPI document agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar, cast

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)
from pynamodb.models import Model

from playout import media as media_rules
from playout import playlists, streams
from playout.destinations import MAX_INGEST_URL_LENGTH, MAX_STREAM_KEY_LENGTH, public_url
from playout.health import CAPACITIES, MIN_BEAT_INTERVAL_S
from playout.ids import id_pattern
from playout.media import MediaStatus
from playout.models import Destination, Media, Playlist, Stream, StreamEvent, StreamHealthItem
from playout.pagination import Page
from playout.usage import usage_of
from playout.youtube import channels as youtube_channels
from playout.youtube.broadcasts import watch_url
from playout.youtube.quota import QuotaDay

# Each kind of id is its prefix and 28 hex digits (playout.ids), which is all a request may carry.
MEDIA_ID = id_pattern("med")
DESTINATION_ID = id_pattern("dst")
PLAYLIST_ID = id_pattern("pls")
STREAM_ID = id_pattern("str")
# One line of text: no control characters (a name ends up in headers, file names and YouTube's titles).
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# Text that may run over several lines: tabs and line breaks, no other control characters.
LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
ETAG = r"^[\x21-\x7e]+$"
CONTENT_TYPE = r"^([\w.+-]+/[\w.+-]+)?$"
PATTERN_MEANINGS = {
    MEDIA_ID: "must be a media id: med_ and 28 hex digits",
    DESTINATION_ID: "must be a destination id: dst_ and 28 hex digits",
    PLAYLIST_ID: "must be a playlist id: pls_ and 28 hex digits",
    STREAM_ID: "must be a stream id: str_ and 28 hex digits",
    ONE_LINE: "must be one line of text, without control characters",
    LINES: "must be text without control characters (tabs and line breaks are fine)",
    ETAG: "must be the ETag that storage answered for the part",
    CONTENT_TYPE: "must be a media type such as video/mp4, or empty",
}

MediaId = Annotated[str, StringConstraints(pattern=MEDIA_ID)]
DestinationId = Annotated[str, StringConstraints(pattern=DESTINATION_ID)]
PlaylistId = Annotated[str, StringConstraints(pattern=PLAYLIST_ID)]
PlaylistName = Annotated[
    str, StringConstraints(min_length=1, max_length=playlists.MAX_NAME_CHARS, pattern=ONE_LINE)
]
MediaIdList = Annotated[
    list[MediaId],
    Field(max_length=playlists.MAX_ITEMS, description="in play order; an id may repeat"),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateMediaRequest(_Input):
    filename: str = Field(min_length=1, max_length=255, pattern=ONE_LINE)
    size_bytes: StrictInt = Field(gt=0, le=media_rules.MAX_UPLOAD_BYTES)
    # What the browser says (File.type): often empty or application/octet-stream for .mkv, .ts or .mts, and
    # a name's guess at best. The media job reads what the file really is, so any well-formed type is taken.
    content_type: str = Field(default="application/octet-stream", pattern=CONTENT_TYPE, max_length=100)

    @field_validator("size_bytes", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if value == 0:
            raise ValueError("the file is empty (0 bytes): choose a file with a picture or sound in it")
        return value

    @field_validator("content_type")
    @classmethod
    def _typed(cls, value: str) -> str:
        return value or "application/octet-stream"


class UploadedPart(_Input):
    part_number: StrictInt = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=200, pattern=ETAG)


class CompleteMediaRequest(_Input):
    parts: list[UploadedPart] = Field(
        min_length=1, max_length=10_000, description="every part the upload was given a URL for, each once"
    )


class ImportMediaRequest(_Input):
    # Checked by playout.importer.check_import_url (scheme, credentials, public address), the one place.
    url: str = Field(min_length=1, max_length=2048)


class CreateDestinationRequest(_Input):
    type: Literal["rtmp"] = "rtmp"
    name: str = Field(min_length=1, max_length=100, pattern=ONE_LINE)
    # Checked by playout.destinations (validate_ingest_url, validate_stream_key), the one place for the rules.
    url: str = Field(min_length=1, max_length=MAX_INGEST_URL_LENGTH)
    stream_key: str = Field(min_length=1, max_length=MAX_STREAM_KEY_LENGTH, repr=False)


class CreatePlaylistRequest(_Input):
    name: PlaylistName
    media_ids: MediaIdList = []
    shuffle: StrictBool = False


class ReplacePlaylistRequest(_Input):
    """A PUT states the whole playlist: a reorder is one request and one write."""

    name: PlaylistName
    media_ids: MediaIdList
    shuffle: StrictBool


LatencyPreference = Literal["normal", "low", "ultraLow"]


class YouTubeBroadcastOptions(_Input):
    """How the broadcast on each YouTube destination is made (ignored by RTMP destinations)."""

    made_for_kids: StrictBool = Field(default=False, description="YouTube's selfDeclaredMadeForKids")
    latency_preference: LatencyPreference = "normal"
    enable_dvr: StrictBool = Field(default=True, description="viewers may rewind while it is live")


class CreateStreamRequest(_Input):
    title: str = Field(min_length=1, max_length=100, pattern=ONE_LINE)
    description: str = Field(default="", max_length=5000, pattern=LINES)
    privacy: Literal["public", "unlisted", "private"] = "unlisted"
    media_ids: list[MediaId] | None = Field(
        default=None,
        min_length=1,
        max_length=playlists.MAX_ITEMS,
        description="in play order; give either media_ids or playlist_id",
    )
    playlist_id: PlaylistId | None = Field(
        default=None, description="plays a copy of the playlist's items, taken when the stream is created"
    )
    shuffle: StrictBool = Field(
        default=False, description="with media_ids: a new order each pass; a playlist brings its own"
    )
    destination_ids: list[DestinationId] = Field(min_length=1, max_length=10)
    loop: StrictBool = Field(default=False, description="play until stopped")
    loops: StrictInt | None = Field(
        default=None, ge=1, le=streams.MAX_LOOPS, description="play the list N times"
    )
    duration_s: StrictInt | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    handover_after_h: StrictFloat = Field(
        default=streams.HANDOVER_AFTER_H,
        ge=streams.MIN_HANDOVER_AFTER_H,
        le=streams.MAX_HANDOVER_AFTER_H,
        allow_inf_nan=False,
        description="hours between planned handovers to a fresh ffmpeg, at an item boundary",
    )
    scheduled_start: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with a UTC offset, in the future, at most a year ahead"
    )
    youtube: YouTubeBroadcastOptions = Field(default_factory=YouTubeBroadcastOptions)

    @field_validator("destination_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("destination_ids must be distinct")
        return value

    @model_validator(mode="after")
    def _one_way_to_play(self) -> CreateStreamRequest:
        if (self.media_ids is None) == (self.playlist_id is None):
            raise ValueError("give either media_ids or playlist_id")
        if self.playlist_id is not None and "shuffle" in self.model_fields_set:
            raise ValueError("a playlist brings its own shuffle: set it on the playlist, leave shuffle out")
        if self.loop and self.loops is not None:
            raise ValueError("loop (until stopped) and loops (a number of passes) exclude each other")
        return self


class ScheduleRequest(_Input):
    scheduled_start: AwareDatetime = Field(
        description="ISO 8601 with a UTC offset, in the future, at most a year ahead"
    )


class PresignedPartOut(BaseModel):
    part_number: int
    url: str
    size_bytes: int = Field(description="send exactly this many bytes: the length is signed into the URL")


class UploadOut(BaseModel):
    upload_id: str
    part_size: int = Field(description="every part's length but the last's")
    parts: list[PresignedPartOut] = Field(description="each URL expires; PUT each part's bytes to it")


class UploadedPartOut(BaseModel):
    part_number: int
    etag: str
    size_bytes: int


class ResumedUploadOut(BaseModel):
    media_id: str
    upload: UploadOut = Field(description="fresh URLs for every part, as at creation")
    uploaded_parts: list[UploadedPartOut] = Field(description="parts S3 already holds: send the others")


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
    size_bytes: int = Field(description="the original's size as uploaded or imported")
    status: MediaStatus
    progress_pct: int | None = Field(description="while importing or conforming")
    stored_bytes: int = Field(
        description="what the media holds of the storage quota: what is stored now. While uploading, the "
        "declared size; once ready, the playable file (the conformed copy, which replaces the original, when "
        "the original was not stream-ready) and its thumbnail; once failed, the original and thumbnail when "
        "the file was media that could not be conformed (kept until deleted), else 0"
    )
    duration_s: float | None
    video: VideoOut | None
    audio: AudioOut | None
    stream_ready: bool | None = Field(
        description="whether the original streamed as it was, without a conform"
    )
    thumbnail_url: str | None = Field(
        default=None, description="a WebP picture; the URL stays the same for a day, so browsers cache it"
    )
    error: str | None
    created_at: datetime

    @classmethod
    def of(cls, media: Media, thumbnail_url: Callable[[str], str] | None = None) -> MediaOut:
        return cls(
            media_id=media.media_id,
            filename=media.filename,
            content_type=media.content_type,
            size_bytes=int(media.size_bytes),
            status=MediaStatus(media.status),
            progress_pct=int(media.progress_pct) if media.progress_pct is not None else None,
            stored_bytes=int(media.counted_bytes or 0),
            duration_s=media.duration_s,
            video=VideoOut(**media.video.as_dict()) if media.video else None,
            audio=AudioOut(**media.audio.as_dict()) if media.audio else None,
            stream_ready=media.stream_ready,
            thumbnail_url=thumbnail_url(str(media.thumbnail_key))
            if thumbnail_url
            and media.thumbnail_key
            and (media.status != MediaStatus.FAILED or media.counted_bytes)
            else None,
            error=media.error,
            created_at=media.created_at,
        )


class CreatedMediaOut(BaseModel):
    media_id: str
    upload: UploadOut


class YouTubeChannelOut(BaseModel):
    channel_id: str
    title: str
    thumbnail_url: str | None


class DestinationOut(BaseModel):
    destination_id: str
    type: Literal["rtmp", "youtube"]
    name: str
    url: str = Field(description="the ingest (its key left out); a YouTube channel's page")
    state: Literal["ready", "needs_reconnect"] = Field(
        description="`needs_reconnect`: Google refused the channel's grant; connect the channel again"
    )
    channel: YouTubeChannelOut | None = Field(default=None, description="a YouTube destination's channel")
    created_at: datetime

    @classmethod
    def of(cls, destination: Destination) -> DestinationOut:
        if destination.type == youtube_channels.YOUTUBE:
            return cls(
                destination_id=destination.destination_id,
                type="youtube",
                name=destination.name,
                url=youtube_channels.public_url_of(destination),
                state=youtube_channels.state_of(destination),  # type: ignore[arg-type]
                channel=YouTubeChannelOut(
                    channel_id=str(destination.channel_id),
                    title=str(destination.channel_title or destination.name),
                    thumbnail_url=destination.channel_thumbnail_url,
                ),
                created_at=destination.created_at,
            )
        return cls(
            destination_id=destination.destination_id,
            type="rtmp",
            name=destination.name,
            url=public_url(str(destination.url or "")),
            state="ready",
            created_at=destination.created_at,
        )


class PlaylistOut(BaseModel):
    playlist_id: str
    name: str
    media_ids: list[str]
    shuffle: bool
    duration_s: float | None = Field(description="one pass, in seconds; null until every item's is known")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, playlist: Playlist) -> PlaylistOut:
        return cls(
            playlist_id=playlist.playlist_id,
            name=playlist.name,
            media_ids=[str(m) for m in playlist.media_ids],
            shuffle=bool(playlist.shuffle),
            duration_s=playlist.duration_s,
            created_at=playlist.created_at,
            updated_at=playlist.updated_at,
        )


DestinationStatus = Literal["idle", "connecting", "live", "retrying", "failed", "stopped"]


class StreamDestinationOut(BaseModel):
    destination_id: str
    type: Literal["rtmp", "youtube"]
    status: DestinationStatus = Field(
        description="this destination's own state while the stream runs; `idle` when it does not"
    )
    reason: str | None = Field(default=None, description="why it is retrying or failed, in short")
    bytes_sent: int = Field(description="bytes written to this ingest over the stream's life, every run")
    watch_url: str | None = Field(default=None, description="a YouTube destination's broadcast, this run's")


class HealthOut(BaseModel):
    bitrate_kbps: float | None = None
    fps: float | None = None
    speed: float | None = None
    dropped_frames: int | None = None
    position_s: float | None = None
    item_index: int | None = None
    uptime_s: float | None = None
    updated_at: datetime | None = None


class UsageOut(BaseModel):
    egress_bytes: int = Field(description="bytes written to every ingest, measured per destination")
    compute_s: float = Field(description="seconds of stream task, every run")
    spot_s: float
    on_demand_s: float
    capacity: Literal["spot", "on_demand"] | None = Field(description="the current or last run's")
    estimated_usd: float = Field(description="at list prices (playout.usage): compute, egress, health writes")


def _destinations_out(stream: Stream, item: StreamHealthItem | None) -> list[StreamDestinationOut]:
    reports = list((item.destinations if item else None) or [])  # in the order of destination_ids
    this_run = item is not None and stream.run_id is not None and item.run_id == stream.run_id
    active = stream.status in streams.ACTIVE
    types = [str(t) for t in stream.destination_types or []]
    watch_urls = _watch_urls(stream)
    out = []
    for index, destination_id in enumerate(map(str, stream.destination_ids)):
        report = reports[index] if index < len(reports) else None
        sent = int(report.bytes_sent or 0) if report else 0
        status: DestinationStatus
        if active and this_run and report is not None:
            status, reason = cast(DestinationStatus, str(report.state)), report.reason
        elif active:
            status, reason = "connecting", None
        elif report is not None and report.state == "failed":
            status, reason = "failed", report.reason
        else:
            status, reason = "idle", None
        out.append(
            StreamDestinationOut(
                destination_id=destination_id,
                type="youtube" if index < len(types) and types[index] == "youtube" else "rtmp",
                status=status,
                reason=reason,
                bytes_sent=sent,
                watch_url=watch_urls.get(destination_id),
            )
        )
    return out


def _watch_urls(stream: Stream) -> dict[str, str]:
    return {str(ref.destination_id): watch_url(str(ref.broadcast_id)) for ref in stream.broadcasts or []}


def _health_out(stream: Stream, item: StreamHealthItem | None) -> HealthOut | None:
    if item is None or item.updated_at is None or item.run_id != stream.run_id:
        return None
    return HealthOut(
        bitrate_kbps=item.bitrate_kbps,
        fps=item.fps,
        position_s=item.position_s,
        item_index=int(item.item_index) if item.item_index is not None else None,
        uptime_s=item.uptime_s,
        updated_at=item.updated_at,
    )


class StreamOut(BaseModel):
    stream_id: str
    title: str
    description: str
    privacy: str
    status: str
    playlist_id: str | None
    media_ids: list[str]
    shuffle: bool
    loop: bool
    loops: int | None
    duration_s: int | None
    handover_after_h: float
    scheduled_start: datetime | None = None
    started_at: datetime | None
    ended_at: datetime | None
    watch_url: str | None = Field(
        default=None, description="the YouTube broadcast of the current (or last) run, on its first channel"
    )
    youtube: YouTubeBroadcastOptions
    destinations: list[StreamDestinationOut]
    health: HealthOut | None
    usage: UsageOut
    error: str | None
    created_at: datetime

    @classmethod
    def of(cls, stream: Stream, health_item: StreamHealthItem | None) -> StreamOut:
        usage = usage_of(health_item, MIN_BEAT_INTERVAL_S)
        return cls(
            stream_id=stream.stream_id,
            title=stream.title,
            description=stream.description,
            privacy=stream.privacy,
            status=stream.status,
            playlist_id=stream.playlist_id,
            media_ids=[str(m) for m in stream.media_ids],
            shuffle=bool(stream.shuffle),
            loop=stream.loop,
            loops=int(stream.loops) if stream.loops is not None else None,
            duration_s=int(stream.duration_s) if stream.duration_s else None,
            handover_after_h=float(stream.handover_after_h),
            scheduled_start=stream.scheduled_start,
            started_at=stream.started_at,
            ended_at=stream.ended_at,
            watch_url=next(iter(_watch_urls(stream).values()), None),
            youtube=YouTubeBroadcastOptions(
                made_for_kids=bool(stream.youtube.made_for_kids),
                latency_preference=cast(LatencyPreference, str(stream.youtube.latency_preference)),
                enable_dvr=bool(stream.youtube.enable_dvr),
            )
            if stream.youtube
            else YouTubeBroadcastOptions(),
            destinations=_destinations_out(stream, health_item),
            health=_health_out(stream, health_item),
            usage=UsageOut(
                egress_bytes=usage.egress_bytes,
                compute_s=usage.compute_s,
                spot_s=usage.spot_s,
                on_demand_s=usage.on_demand_s,
                capacity=usage.capacity if usage.capacity in CAPACITIES else None,  # type: ignore[arg-type]
                estimated_usd=usage.estimated_usd,
            ),
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


class YouTubeQuotaOut(BaseModel):
    used: int = Field(description="units of the YouTube Data API spent today by this installation's project")
    limit: int
    resets_at: datetime = Field(description="midnight Pacific time, when YouTube's quota day starts again")

    @classmethod
    def of(cls, day: QuotaDay) -> YouTubeQuotaOut:
        return cls(used=min(day.used, day.limit), limit=day.limit, resets_at=day.resets_at)


class MeOut(BaseModel):
    user_id: str
    email: str | None
    storage_used_bytes: int
    storage_quota_bytes: int
    active_streams: int
    max_concurrent_streams: int
    youtube_quota: YouTubeQuotaOut | None = Field(
        description="YouTube's daily quota, shared by every user of this installation; null without YouTube"
    )


class YouTubeConnectOut(BaseModel):
    authorization_url: str = Field(description="Google's consent page: send the browser there")


Item = TypeVar("Item", bound=BaseModel)
Stored = TypeVar("Stored", bound=Model)


class PageOut(BaseModel, Generic[Item]):
    items: list[Item] = Field(description="newest first")
    next_cursor: str | None = Field(description="`?cursor=` for the next page; null on the last page")

    @classmethod
    def of(cls, page: Page[Stored], convert: Callable[[Stored], Item]) -> Self:
        return cls(items=[convert(item) for item in page.items], next_cursor=page.next_cursor)


class MediaPageOut(PageOut[MediaOut]):
    pass


class DestinationPageOut(PageOut[DestinationOut]):
    pass


class PlaylistPageOut(PageOut[PlaylistOut]):
    pass


class StreamPageOut(PageOut[StreamOut]):
    pass


class EventPageOut(PageOut[EventOut]):
    pass
