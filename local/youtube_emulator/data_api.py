"""The YouTube Data API methods Playout calls, answering with resources shaped as YouTube's: a checked call
(discovery.ApiCall) and the caller's channel in, the response body out (None: 204 No Content)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from local.youtube_emulator import errors
from local.youtube_emulator.discovery import ApiCall, parse_time
from local.youtube_emulator.live import (
    Channel,
    LifeCycle,
    LiveBroadcast,
    LiveStream,
    LiveStudio,
    StreamStatus,
)
from local.youtube_emulator.oauth import YOUTUBE, YOUTUBE_FORCE_SSL, YOUTUBE_READONLY, YOUTUBE_UPLOAD

MANAGE: Final = frozenset({YOUTUBE, YOUTUBE_FORCE_SSL})
READ: Final = MANAGE | {YOUTUBE_READONLY}
SCOPES_BY_METHOD: Final = {
    "youtube.channels.list": READ,
    "youtube.liveBroadcasts.list": READ,
    "youtube.liveStreams.list": READ,
    "youtube.thumbnails.set": MANAGE | {YOUTUBE_UPLOAD},
}
DEFAULT_PAGE_SIZE: Final = 5
BROADCAST_THUMBNAILS: Final = {
    "default": (120, 90),
    "medium": (320, 180),
    "high": (480, 360),
    "standard": (640, 480),
    "maxres": (1280, 720),
}
CHANNEL_THUMBNAILS: Final = {"default": 88, "medium": 240, "high": 800}
BROADCAST_STATUS_FILTERS: Final = {
    "active": frozenset({LifeCycle.LIVE_STARTING, LifeCycle.LIVE}),
    "upcoming": frozenset({LifeCycle.CREATED, LifeCycle.READY, LifeCycle.TEST_STARTING, LifeCycle.TESTING}),
    "completed": frozenset({LifeCycle.COMPLETE, LifeCycle.REVOKED}),
}
IMAGE_SIGNATURES: Final = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


@dataclass(frozen=True)
class IngestAddresses:
    rtmp: str  # rtmp://127.0.0.1:<port>/live2
    rtmps: str  # rtmps://127.0.0.1:<port>/live2


def allows(method_id: str, scopes: Sequence[str]) -> bool:
    return bool(SCOPES_BY_METHOD.get(method_id, MANAGE) & set(scopes))


class YouTubeDataApi:
    def __init__(self, studio: LiveStudio, ingest: IngestAddresses, media_url: str) -> None:
        self._studio = studio
        self._ingest = ingest
        self._media_url = media_url  # where the emulator serves thumbnails (plain http)
        self._handlers: dict[str, Callable[[ApiCall, Channel], dict[str, Any] | None]] = {
            "youtube.channels.list": self._channels_list,
            "youtube.liveBroadcasts.list": self._broadcasts_list,
            "youtube.liveBroadcasts.insert": self._broadcasts_insert,
            "youtube.liveBroadcasts.update": self._broadcasts_update,
            "youtube.liveBroadcasts.bind": self._broadcasts_bind,
            "youtube.liveBroadcasts.transition": self._broadcasts_transition,
            "youtube.liveBroadcasts.delete": self._broadcasts_delete,
            "youtube.liveStreams.list": self._streams_list,
            "youtube.liveStreams.insert": self._streams_insert,
            "youtube.liveStreams.delete": self._streams_delete,
            "youtube.thumbnails.set": self._thumbnails_set,
        }

    @property
    def emulated_methods(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def call(self, call: ApiCall, channel: Channel) -> dict[str, Any] | None:
        handler = self._handlers.get(call.method.id)
        if handler is None:
            raise errors.not_implemented(call.method.id)
        return handler(call, channel)

    # --- channels ---

    def _channels_list(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        filters = ["forUsername", "managedByMe", "categoryId", "mine", "mySubscribers", "id", "forHandle"]
        chosen = _one_filter(call, filters)
        if chosen == "mine":
            found = [channel] if call.param("mine") else []
        elif chosen == "id":
            found = [c for c in self._studio.channels.values() if c.channel_id in call.param("id")]
        elif chosen == "forHandle":
            handle = "@" + str(call.param("forHandle")).lstrip("@").lower()
            found = [c for c in self._studio.channels.values() if c.custom_url == handle]
        else:
            found = []
        items = [self._channel(c, call.parts) for c in found]
        return self._page(call, "youtube#channelListResponse", items)

    def _channel(self, channel: Channel, parts: tuple[str, ...]) -> dict[str, Any]:
        avatar = f"{self._media_url}/emulator/channels/{channel.channel_id}/avatar.png"
        sections: dict[str, Any] = {
            "snippet": {
                "title": channel.title,
                "description": channel.description,
                "customUrl": channel.custom_url,
                "publishedAt": _time(channel.published_at),
                "thumbnails": {
                    size: {"url": f"{avatar}?s={px}", "width": px, "height": px}
                    for size, px in CHANNEL_THUMBNAILS.items()
                },
                "localized": {"title": channel.title, "description": channel.description},
            },
            "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": "UU" + channel.channel_id[2:]}},
            "status": {
                "privacyStatus": "public",
                "isLinked": True,
                "longUploadsStatus": "longUploadsUnspecified",
                "madeForKids": False,
            },
            "statistics": {
                "viewCount": "0",
                "subscriberCount": "0",
                "hiddenSubscriberCount": False,
                "videoCount": "0",
            },
            "brandingSettings": {"channel": {"title": channel.title, "description": channel.description}},
        }
        return _resource("youtube#channel", channel.channel_id, sections, parts)

    # --- liveBroadcasts ---

    def _broadcasts_list(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        chosen = _one_filter(call, ["broadcastStatus", "id", "mine"])
        found = self._studio.broadcasts(channel)
        if chosen == "id":
            found = [b for b in found if b.broadcast_id in call.param("id")]
        elif chosen == "broadcastStatus" and call.param("broadcastStatus") in BROADCAST_STATUS_FILTERS:
            wanted = BROADCAST_STATUS_FILTERS[call.param("broadcastStatus")]
            found = [b for b in found if b.life_cycle in wanted]
        elif chosen == "mine" and not call.param("mine"):
            found = []
        if call.param("broadcastType", "event") == "persistent":
            found = []  # no channel here has a default (persistent) broadcast
        items = [self._broadcast(b, call.parts) for b in found]
        return self._page(call, "youtube#liveBroadcastListResponse", items)

    def _broadcasts_insert(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        broadcast = self._studio.insert_broadcast(channel, call.body or {}, call.parts)
        return self._broadcast(broadcast, call.parts)

    def _broadcasts_update(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        broadcast = self._studio.update_broadcast(channel, call.body or {}, call.parts)
        return self._broadcast(broadcast, call.parts)

    def _broadcasts_bind(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        broadcast = self._studio.bind(channel, call.param("id"), call.param("streamId"))
        return self._broadcast(broadcast, call.parts)

    def _broadcasts_transition(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        broadcast = self._studio.transition(channel, call.param("id"), call.param("broadcastStatus"))
        return self._broadcast(broadcast, call.parts)

    def _broadcasts_delete(self, call: ApiCall, channel: Channel) -> None:
        self._studio.delete_broadcast(channel, call.param("id"))

    def _broadcast(self, broadcast: LiveBroadcast, parts: tuple[str, ...]) -> dict[str, Any]:
        snippet: dict[str, Any] = {
            "publishedAt": _time(broadcast.published_at),
            "channelId": broadcast.channel_id,
            "title": broadcast.snippet["title"],
            "description": broadcast.snippet["description"],
            "thumbnails": {
                size: {
                    "url": f"{self._media_url}/emulator/thumbnails/{broadcast.broadcast_id}/{size}.jpg",
                    "width": width,
                    "height": height,
                }
                for size, (width, height) in BROADCAST_THUMBNAILS.items()
            },
            "scheduledStartTime": _normal_time(broadcast.snippet["scheduledStartTime"]),
            "isDefaultBroadcast": False,
            "liveChatId": "Cg0KC" + base64.b64encode(broadcast.broadcast_id.encode()).decode().rstrip("="),
        }
        if "scheduledEndTime" in broadcast.snippet:
            snippet["scheduledEndTime"] = _normal_time(broadcast.snippet["scheduledEndTime"])
        if broadcast.actual_start is not None:
            snippet["actualStartTime"] = _time(broadcast.actual_start)
        if broadcast.actual_end is not None:
            snippet["actualEndTime"] = _time(broadcast.actual_end)
        details = dict(broadcast.content_details)
        details["monitorStream"] = {
            **details["monitorStream"],
            "embedHtml": (
                f'<iframe width="425" height="344" src="https://www.youtube.com/embed/{broadcast.broadcast_id}'
                '?autoplay=1&livemonitor=1" frameborder="0" allowfullscreen></iframe>'
            ),
        }
        if broadcast.bound_stream_id is not None and broadcast.bound_at is not None:
            details = {
                "boundStreamId": broadcast.bound_stream_id,
                "boundStreamLastUpdateTimeMs": _time(broadcast.bound_at, milliseconds=True),
                **details,
            }
        sections = {
            "snippet": snippet,
            "status": {
                "lifeCycleStatus": broadcast.life_cycle.value,
                "privacyStatus": broadcast.status["privacyStatus"],
                "recordingStatus": broadcast.recording_status,
                "madeForKids": broadcast.status["selfDeclaredMadeForKids"],
                "selfDeclaredMadeForKids": broadcast.status["selfDeclaredMadeForKids"],
            },
            "contentDetails": details,
            "statistics": {"concurrentViewers": "0"} if broadcast.life_cycle is LifeCycle.LIVE else {},
            "monetizationDetails": {},
        }
        return _resource("youtube#liveBroadcast", broadcast.broadcast_id, sections, parts)

    # --- liveStreams ---

    def _streams_list(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        chosen = _one_filter(call, ["id", "mine"])
        ids = call.param("id") if chosen == "id" else None
        found = self._studio.streams(channel, ids) if chosen == "id" or call.param("mine") else []
        items = [self._stream(s, call.parts) for s in found]
        return self._page(call, "youtube#liveStreamListResponse", items)

    def _streams_delete(self, call: ApiCall, channel: Channel) -> None:
        self._studio.delete_stream(channel, call.param("id"))

    def _streams_insert(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        return self._stream(self._studio.insert_stream(channel, call.body or {}, call.parts), call.parts)

    def _stream(self, stream: LiveStream, parts: tuple[str, ...]) -> dict[str, Any]:
        active = stream.status is StreamStatus.ACTIVE
        sections = {
            "snippet": {
                "publishedAt": _time(stream.published_at),
                "channelId": stream.channel_id,
                "title": stream.snippet["title"],
                "description": stream.snippet["description"],
                "isDefaultStream": False,
            },
            "cdn": {
                **stream.cdn,
                "ingestionInfo": {
                    "streamName": stream.stream_name,
                    "ingestionAddress": self._ingest.rtmp,
                    # one ingest here: the backup addresses name the same one
                    "backupIngestionAddress": self._ingest.rtmp,
                    "rtmpsIngestionAddress": self._ingest.rtmps,
                    "rtmpsBackupIngestionAddress": self._ingest.rtmps,
                },
            },
            "status": {
                "streamStatus": stream.status.value,
                "healthStatus": {
                    "status": "good" if active else "noData",
                    "lastUpdateTimeSeconds": str(int(stream.status_changed_at)),
                    "configurationIssues": [],
                },
            },
            "contentDetails": {
                "closedCaptionsIngestionUrl": (
                    f"http://upload.youtube.com/closedcaption?cid={stream.stream_name}"
                ),
                "isReusable": stream.is_reusable,
            },
        }
        return _resource("youtube#liveStream", stream.stream_id, sections, parts)

    # --- thumbnails ---

    def _thumbnails_set(self, call: ApiCall, channel: Channel) -> dict[str, Any]:
        assert call.media is not None
        if not call.media.data.startswith(IMAGE_SIGNATURES):
            raise errors.invalid_image()
        broadcast = self._studio.set_thumbnail(channel, call.param("videoId"), call.media)
        urls = self._broadcast(broadcast, ("snippet",))["snippet"]["thumbnails"]
        return _with_etag({"kind": "youtube#thumbnailSetResponse", "items": [urls]})

    # --- lists ---

    def _page(self, call: ApiCall, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        size = call.param("maxResults", DEFAULT_PAGE_SIZE)
        start = _page_offset(call.param("pageToken"))
        page = items[start : start + size]
        body: dict[str, Any] = {"kind": kind}
        if start + size < len(items):
            body["nextPageToken"] = _page_token(start + size)
        if start > 0:
            body["prevPageToken"] = _page_token(max(0, start - size))
        body["pageInfo"] = {"totalResults": len(items), "resultsPerPage": size}
        body["items"] = page
        return _with_etag(body)


def _one_filter(call: ApiCall, names: list[str]) -> str:
    given = [name for name in names if name in call.params]
    if not given:
        raise errors.missing_filter(names)
    if len(given) > 1:
        raise errors.incompatible_parameters(given)
    return given[0]


def _resource(
    kind: str, resource_id: str, sections: dict[str, Any], parts: tuple[str, ...]
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "id": resource_id}
    body |= {part: sections[part] for part in parts if part in sections}
    return _with_etag(body)


def _with_etag(body: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode(), usedforsecurity=False).digest()
    return {"kind": body["kind"], "etag": base64.urlsafe_b64encode(digest).decode().rstrip("=")} | body


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("offset:")) if text.startswith("offset:") else _refuse_token()
    except ValueError:
        return _refuse_token()


def _refuse_token() -> int:
    raise errors.invalid_page_token()


def _time(at: float, milliseconds: bool = False) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    if milliseconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _normal_time(value: str) -> str:
    parsed = parse_time(value)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else value
