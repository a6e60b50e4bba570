"""YouTube Live as the API shows it: channels, liveStreams (ingest points) and liveBroadcasts (events), with
the lifecycle YouTube enforces.

- A broadcast is `created`; bound to a stream it is `ready`; `testing` and `live` are reached through
  `testStarting`/`liveStarting` (after `starting_delay_s`), only while its stream is `active`; `testing`
  only with the monitor stream on, and then `live` only from `testing`; `complete` is final.
- A stream is `ready` until data first arrives, then `active` while an encoder publishes to its stream name
  and `inactive` once it stops; its health is `good` while active, `noData` otherwise.
- `enableAutoStart`: a ready broadcast goes live when its stream turns active (or is bound while active).
  `enableAutoStop`: a live broadcast completes `auto_stop_delay_s` after its stream stops, unless data
  comes back first.
- While a broadcast is live its data is recorded apart (its archive: one file per publishing session);
  `ArchiveRecorder` does the recording, this module decides when. A broadcast that was live
  `archive_limit_s` (12 hours) or longer keeps no archive, as YouTube keeps none of such a broadcast.
- A broadcast is bound to exactly one stream; a stream may be bound to several broadcasts (YouTube: "a video
  stream may be bound to more than one broadcast", "up to three live broadcasts"), each recorded apart.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

from local.youtube_emulator import errors
from local.youtube_emulator.discovery import Media, parse_time
from local.youtube_emulator.errors import LIVE_BROADCAST, LIVE_STREAM

ARCHIVE_SLOTS: Final = 4  # broadcasts one stream can feed at once, each with its own archive recorder
ARCHIVE_LIMIT_S: Final = 12 * 3600.0  # YouTube archives a broadcast only if it was live for less
TITLE_MAX: Final = 100
DESCRIPTION_MAX: Final = 5000
_ID_ALPHABET: Final = string.ascii_letters + string.digits + "-_"
_KEY_ALPHABET: Final = string.ascii_lowercase + string.digits
DEFAULT_CONTENT_DETAILS: Final[dict[str, Any]] = {
    "monitorStream": {"enableMonitorStream": True, "broadcastStreamDelayMs": 0},
    "enableEmbed": True,
    "enableDvr": True,
    "enableContentEncryption": False,
    "startWithSlate": False,
    "recordFromStart": True,
    "enableClosedCaptions": False,
    "closedCaptionsType": "closedCaptionsDisabled",
    "enableLowLatency": False,
    "latencyPreference": "normal",
    "projection": "rectangular",
    "enableAutoStart": False,
    "enableAutoStop": False,
}
READ_ONLY_CONTENT_DETAILS: Final = frozenset({"boundStreamId", "boundStreamLastUpdateTimeMs"})


class LifeCycle(StrEnum):
    CREATED = "created"
    READY = "ready"
    TEST_STARTING = "testStarting"
    TESTING = "testing"
    LIVE_STARTING = "liveStarting"
    LIVE = "live"
    COMPLETE = "complete"
    REVOKED = "revoked"


ON_AIR: Final = frozenset(
    {LifeCycle.TEST_STARTING, LifeCycle.TESTING, LifeCycle.LIVE_STARTING, LifeCycle.LIVE}
)
FINAL: Final = frozenset({LifeCycle.COMPLETE, LifeCycle.REVOKED})
BROADCASTS_PER_STREAM: Final = 3  # "The same stream can be bound to up to three live broadcasts."


class StreamStatus(StrEnum):
    READY = "ready"
    ACTIVE = "active"
    INACTIVE = "inactive"


class ArchiveRecorder(Protocol):
    """Records what arrives for a stream name into a file of its own, in one of ARCHIVE_SLOTS recorders."""

    def start_archive(self, stream_name: str, slot: int, opened: Callable[[Path], None]) -> None:
        """Starts recording (later, on another thread); calls `opened` with the file once it is open."""

    def stop_archive(self, stream_name: str, slot: int) -> None:
        """Stops that recording; the file is reported closed through `LiveStudio.recording_closed`."""


@dataclass
class Channel:
    channel_id: str
    title: str
    published_at: float
    description: str = ""
    live_streaming_enabled: bool = True

    @property
    def custom_url(self) -> str:
        return "@" + "".join(ch for ch in self.title.lower() if ch.isalnum())


@dataclass
class LiveStream:
    stream_id: str
    channel_id: str
    stream_name: str
    published_at: float
    snippet: dict[str, Any]
    cdn: dict[str, Any]
    is_reusable: bool
    status: StreamStatus = StreamStatus.READY
    status_changed_at: float = 0.0
    publishers: set[str] = field(default_factory=set)
    ingest_recordings: list[Path] = field(default_factory=list)  # every publishing session, whole


@dataclass
class ArchiveSegment:
    path: Path
    closed: bool = False


@dataclass
class LiveBroadcast:
    broadcast_id: str
    channel_id: str
    published_at: float
    snippet: dict[str, Any]
    status: dict[str, Any]
    content_details: dict[str, Any]
    life_cycle: LifeCycle = LifeCycle.CREATED
    bound_stream_id: str | None = None
    bound_at: float | None = None
    actual_start: float | None = None
    actual_end: float | None = None
    settles_at: float | None = None  # when testStarting/liveStarting becomes testing/live
    completes_at: float | None = None  # auto-stop: when it completes unless data comes back
    thumbnail: Media | None = None
    archive_slot: int | None = None
    archive: list[ArchiveSegment] = field(default_factory=list)
    archive_dropped: bool = False  # live too long: YouTube keeps no archive of it

    @property
    def archived(self) -> list[ArchiveSegment]:
        """What YouTube keeps of it as a video (nothing of a broadcast live for 12 hours or more)."""
        return [] if self.archive_dropped else list(self.archive)

    @property
    def auto_start(self) -> bool:
        return bool(self.content_details.get("enableAutoStart"))

    @property
    def auto_stop(self) -> bool:
        return bool(self.content_details.get("enableAutoStop"))

    @property
    def monitor_stream(self) -> bool:
        return bool(self.content_details.get("monitorStream", {}).get("enableMonitorStream", True))

    @property
    def recording_status(self) -> str:
        if self.life_cycle in FINAL:
            return "recorded" if self.actual_start is not None else "notRecording"
        return "recording" if self.life_cycle is LifeCycle.LIVE else "notRecording"


def new_channel_id() -> str:
    return "UC" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def _video_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(11))


def _stream_name() -> str:
    return "-".join("".join(secrets.choice(_KEY_ALPHABET) for _ in range(4)) for _ in range(5))


class LiveStudio:
    """Every channel's streams and broadcasts. Thread-safe; `tick()` moves what is due (a thread calls it)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        recorder: ArchiveRecorder,
        starting_delay_s: float = 1.0,
        auto_stop_delay_s: float = 10.0,
        archive_limit_s: float = ARCHIVE_LIMIT_S,
    ) -> None:
        self._clock = clock
        self._recorder = recorder
        self.starting_delay_s = starting_delay_s
        self.auto_stop_delay_s = auto_stop_delay_s
        self.archive_limit_s = archive_limit_s
        self._lock = threading.RLock()
        self.channels: dict[str, Channel] = {}
        self._streams: dict[str, LiveStream] = {}
        self._broadcasts: dict[str, LiveBroadcast] = {}
        self._slots: dict[str, dict[int, str]] = {}  # stream name -> archive slot -> broadcast id
        self._open_archives: dict[Path, str] = {}  # an archive file being written -> its broadcast
        self._closed_early: set[Path] = set()  # closed before its opening was reported
        self._issued_stream_names: list[str] = []  # every stream key handed out; reset() keeps it

    def add_channel(self, channel: Channel) -> Channel:
        with self._lock:
            self.channels[channel.channel_id] = channel
        return channel

    def channel(self, channel_id: str) -> Channel:
        with self._lock:
            return self.channels[channel_id]

    # --- liveStreams ---

    def insert_stream(self, channel: Channel, body: dict[str, Any], parts: tuple[str, ...]) -> LiveStream:
        _require_live_streaming(channel)
        snippet = body.get("snippet", {}) if "snippet" in parts else {}
        cdn = body.get("cdn", {}) if "cdn" in parts else {}
        title = str(snippet.get("title", "")).strip()
        if not title:
            raise errors.field_required(LIVE_STREAM, "titleRequired", "The stream's title is required.")
        if len(title) > TITLE_MAX:
            raise errors.invalid_value(LIVE_STREAM, "invalidTitle", "The stream's title is too long.")
        if not cdn:
            raise errors.field_required(LIVE_STREAM, "cdnRequired", "The stream's cdn settings are required.")
        if cdn.get("ingestionType") != "rtmp":
            raise errors.invalid_value(
                LIVE_STREAM, "invalidIngestionType", "The emulator ingests RTMP(S) only: ingestionType rtmp."
            )
        for name, reason in (("resolution", "resolutionRequired"), ("frameRate", "frameRateRequired")):
            if not cdn.get(name):
                raise errors.field_required(LIVE_STREAM, reason, f"cdn.{name} is required.")
        content = body.get("contentDetails", {}) if "contentDetails" in parts else {}
        now = self._clock()
        stream = LiveStream(
            stream_id=channel.channel_id[2:] + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10)),
            channel_id=channel.channel_id,
            stream_name=_stream_name(),
            published_at=now,
            snippet={"title": title, "description": str(snippet.get("description", ""))},
            cdn={key: cdn[key] for key in ("ingestionType", "resolution", "frameRate")},
            is_reusable=bool(content.get("isReusable", True)),
            status_changed_at=now,
        )
        with self._lock:
            self._streams[stream.stream_id] = stream
            self._issued_stream_names.append(stream.stream_name)
        return stream

    def streams(self, channel: Channel, ids: list[str] | None) -> list[LiveStream]:
        _require_live_streaming(channel)
        with self._lock:
            found = [s for s in self._streams.values() if s.channel_id == channel.channel_id]
        return found if ids is None else [s for s in found if s.stream_id in ids]

    def delete_stream(self, channel: Channel, stream_id: str) -> None:
        """Its key stops taking publishes; refused while a broadcast that has not completed is bound to it."""
        _require_live_streaming(channel)
        with self._lock:
            stream = self._streams.get(stream_id)
            if stream is None or stream.channel_id != channel.channel_id:
                raise errors.stream_not_found()
            if any(
                b.bound_stream_id == stream_id and b.life_cycle not in FINAL
                for b in self._broadcasts.values()
            ):
                raise errors.stream_deletion_not_allowed()
            del self._streams[stream_id]

    def stream(self, stream_id: str) -> LiveStream | None:
        with self._lock:
            return self._streams.get(stream_id)

    def issued_stream_names(self) -> list[str]:
        """The stream name (the ingest's key) of every stream inserted since the start, deleted ones too."""
        with self._lock:
            return list(self._issued_stream_names)

    def stream_by_name(self, stream_name: str) -> LiveStream | None:
        with self._lock:
            return next((s for s in self._streams.values() if s.stream_name == stream_name), None)

    # --- liveBroadcasts ---

    def insert_broadcast(
        self, channel: Channel, body: dict[str, Any], parts: tuple[str, ...]
    ) -> LiveBroadcast:
        _require_live_streaming(channel)
        broadcast = LiveBroadcast(
            broadcast_id=_video_id(),
            channel_id=channel.channel_id,
            published_at=self._clock(),
            snippet=_broadcast_snippet(body.get("snippet", {}) if "snippet" in parts else {}),
            status=_broadcast_status(body.get("status", {}) if "status" in parts else {}),
            content_details=_content_details(
                body.get("contentDetails", {}) if "contentDetails" in parts else {}
            ),
        )
        with self._lock:
            self._broadcasts[broadcast.broadcast_id] = broadcast
        return broadcast

    def update_broadcast(
        self, channel: Channel, body: dict[str, Any], parts: tuple[str, ...]
    ) -> LiveBroadcast:
        """YouTube's update replaces each named part with what the body says (what it omits is reset)."""
        if not body.get("id"):
            raise errors.field_required(LIVE_BROADCAST, "idRequired", "The broadcast's id is required.")
        with self._lock:
            broadcast = self._broadcast(channel, str(body["id"]))
            if "snippet" in parts:
                broadcast.snippet = _broadcast_snippet(body.get("snippet", {}))
            if "status" in parts:
                broadcast.status = _broadcast_status(body.get("status", {}))
            if "contentDetails" in parts:
                broadcast.content_details = _content_details(body.get("contentDetails", {}))
            return broadcast

    def broadcasts(self, channel: Channel) -> list[LiveBroadcast]:
        _require_live_streaming(channel)
        with self._lock:
            return [b for b in self._broadcasts.values() if b.channel_id == channel.channel_id]

    def broadcast(self, broadcast_id: str) -> LiveBroadcast:
        with self._lock:
            found = self._broadcasts.get(broadcast_id)
        if found is None:
            raise errors.broadcast_not_found()
        return found

    def bind(self, channel: Channel, broadcast_id: str, stream_id: str | None) -> LiveBroadcast:
        with self._lock:
            broadcast = self._broadcast(channel, broadcast_id)
            if broadcast.life_cycle not in (LifeCycle.CREATED, LifeCycle.READY):
                raise errors.binding_not_allowed()
            if stream_id is None:
                broadcast.bound_stream_id, broadcast.bound_at = None, None
                broadcast.life_cycle = LifeCycle.CREATED
                return broadcast
            stream = self._streams.get(stream_id)
            if stream is None or stream.channel_id != channel.channel_id:
                raise errors.stream_not_found()
            others = [
                b
                for b in self._broadcasts.values()
                if b.bound_stream_id == stream_id and b.life_cycle not in FINAL and b is not broadcast
            ]
            if len(others) >= BROADCASTS_PER_STREAM:
                raise errors.binding_not_allowed()
            broadcast.bound_stream_id, broadcast.bound_at = stream.stream_id, self._clock()
            broadcast.life_cycle = LifeCycle.READY
            if stream.status is StreamStatus.ACTIVE and broadcast.auto_start:
                self._start(broadcast, LifeCycle.LIVE_STARTING)
            return broadcast

    def transition(self, channel: Channel, broadcast_id: str, target: str) -> LiveBroadcast:
        with self._lock:
            broadcast = self._broadcast(channel, broadcast_id)
            current = broadcast.life_cycle
            if (target, current) in (
                ("testing", LifeCycle.TESTING),
                ("testing", LifeCycle.TEST_STARTING),
                ("live", LifeCycle.LIVE),
                ("live", LifeCycle.LIVE_STARTING),
                ("complete", LifeCycle.COMPLETE),
            ):
                raise errors.redundant_transition()
            if current in FINAL:
                raise errors.invalid_transition()
            if target == "complete":
                if current not in ON_AIR:
                    raise errors.invalid_transition()
                self._complete(broadcast)
            elif target == "testing":
                if current is not LifeCycle.READY or not broadcast.monitor_stream:
                    raise errors.invalid_transition()
                self._require_active_stream(broadcast)
                self._start(broadcast, LifeCycle.TEST_STARTING)
            elif target == "live":
                from_ready = current is LifeCycle.READY and not broadcast.monitor_stream
                if current is not LifeCycle.TESTING and not from_ready:
                    raise errors.invalid_transition()
                self._require_active_stream(broadcast)
                self._start(broadcast, LifeCycle.LIVE_STARTING)
            else:
                raise errors.invalid_transition()
            return broadcast

    def delete_broadcast(self, channel: Channel, broadcast_id: str) -> None:
        with self._lock:
            broadcast = self._broadcast(channel, broadcast_id)
            if broadcast.life_cycle in ON_AIR:
                raise errors.deletion_not_allowed()
            del self._broadcasts[broadcast_id]

    def set_thumbnail(self, channel: Channel, video_id: str, image: Media) -> LiveBroadcast:
        with self._lock:
            broadcast = self._broadcasts.get(video_id)
            if broadcast is None:
                raise errors.video_not_found()
            if broadcast.channel_id != channel.channel_id:
                raise errors.forbidden(
                    "youtube.thumbnail", "The thumbnail can't be set for the specified video."
                )
            broadcast.thumbnail = image
            return broadcast

    def end_broadcast(self, broadcast_id: str) -> LiveBroadcast:
        """YouTube ending a broadcast by itself (a policy, a limit, its own auto-stop): it completes, and the
        stream keeps whatever still arrives."""
        with self._lock:
            broadcast = self.broadcast(broadcast_id)
            if broadcast.life_cycle not in FINAL:
                self._complete(broadcast)
            return broadcast

    def bound_stream(self, broadcast: LiveBroadcast) -> LiveStream | None:
        with self._lock:
            return self._streams.get(broadcast.bound_stream_id or "")

    # --- what the ingest reports ---

    def publish_started(self, stream_name: str, publisher: str) -> bool:
        """An encoder starts publishing to `stream_name`; False refuses it (no stream has that name)."""
        with self._lock:
            stream = self.stream_by_name(stream_name)
            if stream is None:
                return False
            stream.publishers.add(publisher)
            if stream.status is not StreamStatus.ACTIVE:
                stream.status, stream.status_changed_at = StreamStatus.ACTIVE, self._clock()
            for broadcast in self._bound_to(stream):
                broadcast.completes_at = None
                if broadcast.life_cycle is LifeCycle.READY and broadcast.auto_start:
                    self._start(broadcast, LifeCycle.LIVE_STARTING)
                elif broadcast.life_cycle is LifeCycle.LIVE:
                    self._record_archive(broadcast, stream)
            return True

    def publish_ended(self, stream_name: str, publisher: str) -> None:
        with self._lock:
            stream = self.stream_by_name(stream_name)
            if stream is None:
                return
            stream.publishers.discard(publisher)
            if stream.publishers or stream.status is not StreamStatus.ACTIVE:
                return
            stream.status, stream.status_changed_at = StreamStatus.INACTIVE, self._clock()
            for broadcast in self._bound_to(stream):
                if broadcast.auto_stop and broadcast.life_cycle in (LifeCycle.LIVE_STARTING, LifeCycle.LIVE):
                    broadcast.completes_at = self._clock() + self.auto_stop_delay_s
            self._settle_due()

    def recording_closed(self, recorder: str, stream_name: str, path: Path) -> None:
        """nginx closed a recording: a whole publishing session (the unnamed recorder) or an archive part."""
        with self._lock:
            if not recorder:
                stream = self.stream_by_name(stream_name)
                if stream is not None:
                    stream.ingest_recordings.append(path)
                return
            broadcast_id = self._open_archives.pop(path, None)
            if broadcast_id is None:
                self._closed_early.add(path)
                return
            self._close_segment(broadcast_id, path)

    def _archive_opened(self, broadcast_id: str, path: Path) -> None:
        with self._lock:
            broadcast = self._broadcasts.get(broadcast_id)
            if broadcast is None:
                return
            broadcast.archive.append(ArchiveSegment(path))
            if path in self._closed_early:
                self._closed_early.discard(path)
                self._close_segment(broadcast_id, path)
            else:
                self._open_archives[path] = broadcast_id

    def _close_segment(self, broadcast_id: str, path: Path) -> None:
        broadcast = self._broadcasts.get(broadcast_id)
        for segment in broadcast.archive if broadcast else []:
            if segment.path == path:
                segment.closed = True

    # --- time ---

    def tick(self) -> None:
        with self._lock:
            self._settle_due()

    def _settle_due(self) -> None:
        now = self._clock()
        for broadcast in list(self._broadcasts.values()):
            if broadcast.settles_at is not None and now >= broadcast.settles_at:
                broadcast.settles_at = None
                if broadcast.life_cycle is LifeCycle.TEST_STARTING:
                    broadcast.life_cycle = LifeCycle.TESTING
                elif broadcast.life_cycle is LifeCycle.LIVE_STARTING:
                    self._go_live(broadcast, now)
            if broadcast.completes_at is not None and now >= broadcast.completes_at:
                self._complete(broadcast)

    def reset(self) -> None:
        """Forgets every stream and broadcast (the channels stay)."""
        with self._lock:
            for broadcast in self._broadcasts.values():
                self._release_archive(broadcast)
            self._streams.clear()
            self._broadcasts.clear()
            self._slots.clear()
            self._open_archives.clear()
            self._closed_early.clear()

    # --- the rules ---

    def _broadcast(self, channel: Channel, broadcast_id: str) -> LiveBroadcast:
        _require_live_streaming(channel)
        broadcast = self._broadcasts.get(broadcast_id)
        if broadcast is None or broadcast.channel_id != channel.channel_id:
            raise errors.broadcast_not_found()
        return broadcast

    def _require_active_stream(self, broadcast: LiveBroadcast) -> None:
        stream = self._streams.get(broadcast.bound_stream_id or "")
        if stream is None or stream.status is not StreamStatus.ACTIVE:
            raise errors.stream_inactive()

    def _start(self, broadcast: LiveBroadcast, starting: LifeCycle) -> None:
        broadcast.life_cycle = starting
        broadcast.settles_at = self._clock() + self.starting_delay_s
        self._settle_due()

    def _go_live(self, broadcast: LiveBroadcast, now: float) -> None:
        broadcast.life_cycle = LifeCycle.LIVE
        broadcast.actual_start = now
        stream = self._streams.get(broadcast.bound_stream_id or "")
        if stream is not None and stream.status is StreamStatus.ACTIVE:
            self._record_archive(broadcast, stream)

    def _complete(self, broadcast: LiveBroadcast) -> None:
        broadcast.life_cycle = LifeCycle.COMPLETE
        broadcast.actual_end = self._clock()
        broadcast.settles_at = broadcast.completes_at = None
        if broadcast.actual_start is not None:
            broadcast.archive_dropped = broadcast.actual_end - broadcast.actual_start >= self.archive_limit_s
        self._release_archive(broadcast)

    def _record_archive(self, broadcast: LiveBroadcast, stream: LiveStream) -> None:
        slots = self._slots.setdefault(stream.stream_name, {})
        if broadcast.archive_slot is None:
            free = [slot for slot in range(ARCHIVE_SLOTS) if slot not in slots]
            if not free:
                return  # more broadcasts live on one stream than recorders: this one keeps no archive
            broadcast.archive_slot = free[0]
            slots[free[0]] = broadcast.broadcast_id
        broadcast_id = broadcast.broadcast_id
        self._recorder.start_archive(
            stream.stream_name, broadcast.archive_slot, lambda path: self._archive_opened(broadcast_id, path)
        )

    def _release_archive(self, broadcast: LiveBroadcast) -> None:
        stream = self._streams.get(broadcast.bound_stream_id or "")
        if broadcast.archive_slot is None or stream is None:
            return
        self._recorder.stop_archive(stream.stream_name, broadcast.archive_slot)
        self._slots.get(stream.stream_name, {}).pop(broadcast.archive_slot, None)
        broadcast.archive_slot = None

    def _bound_to(self, stream: LiveStream) -> Iterator[LiveBroadcast]:
        for broadcast in list(self._broadcasts.values()):
            if broadcast.bound_stream_id == stream.stream_id and broadcast.life_cycle not in FINAL:
                yield broadcast


def _require_live_streaming(channel: Channel) -> None:
    if not channel.live_streaming_enabled:
        raise errors.live_streaming_not_enabled()


def _broadcast_snippet(snippet: dict[str, Any]) -> dict[str, Any]:
    title = str(snippet.get("title", "")).strip()
    if not title:
        raise errors.field_required(LIVE_BROADCAST, "titleRequired", "The broadcast's title is required.")
    if len(title) > TITLE_MAX or "<" in title or ">" in title:
        raise errors.invalid_value(
            LIVE_BROADCAST, "invalidTitle", f"The title is over {TITLE_MAX} characters or has < or >."
        )
    description = str(snippet.get("description", ""))
    if len(description) > DESCRIPTION_MAX or "<" in description or ">" in description:
        raise errors.invalid_value(
            LIVE_BROADCAST,
            "invalidDescription",
            f"The description is over {DESCRIPTION_MAX} characters or has < or >.",
        )
    start = snippet.get("scheduledStartTime")
    if not start:
        raise errors.field_required(
            LIVE_BROADCAST, "scheduledStartTimeRequired", "The broadcast's scheduled start time is required."
        )
    end = snippet.get("scheduledEndTime")
    start_time, end_time = parse_time(start), parse_time(end) if end else None
    if start_time is not None and end_time is not None and end_time <= start_time:
        raise errors.invalid_value(
            LIVE_BROADCAST, "invalidScheduledEndTime", "The scheduled end time must follow the start time."
        )
    kept = {"title": title, "description": description, "scheduledStartTime": start}
    if end:
        kept["scheduledEndTime"] = end
    return kept


def _broadcast_status(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "privacyStatus": status.get("privacyStatus", "private"),
        "selfDeclaredMadeForKids": bool(status.get("selfDeclaredMadeForKids", False)),
    }


def _content_details(given: dict[str, Any]) -> dict[str, Any]:
    details = copy.deepcopy(DEFAULT_CONTENT_DETAILS)
    for name, value in given.items():
        if name in READ_ONLY_CONTENT_DETAILS:
            continue
        if name == "monitorStream" and isinstance(value, dict):
            details["monitorStream"].update(
                {key: value[key] for key in ("enableMonitorStream", "broadcastStreamDelayMs") if key in value}
            )
        else:
            details[name] = value
    return details
