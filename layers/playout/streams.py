"""Streams: the status machine (every transition a conditional write), the run handshake with the task,
and the events timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from playout import playlists
from playout.destinations import get_destination
from playout.errors import InvalidInput, InvalidState, NotFound
from playout.ids import new_id
from playout.launcher import get_launcher
from playout.media import READY, find_media
from playout.models import EVENT_PREFIX, STREAM_PREFIX, Stream, StreamEvent, user_pk, utcnow
from playout.pagination import Page, query_page
from playout.settings import get_settings

DRAFT, SCHEDULED, STARTING, LIVE, STOPPING, ENDED, FAILED = (
    "draft",
    "scheduled",
    "starting",
    "live",
    "stopping",
    "ended",
    "failed",
)
ACTIVE = (STARTING, LIVE, STOPPING)
STARTABLE = (DRAFT, SCHEDULED, ENDED, FAILED)
EVENT_RETENTION = timedelta(days=30)
MAX_LOOPS = 100_000
HANDOVER_AFTER_H = 12.0  # a new ffmpeg (and later a new broadcast) this often; YouTube archives < 12 h
MIN_HANDOVER_AFTER_H, MAX_HANDOVER_AFTER_H = 1.0, 24.0


@dataclass(frozen=True)
class StreamSpec:
    """What to play: `media_ids` (with `shuffle`), or a `playlist_id` whose items and shuffle are copied."""

    title: str
    description: str
    privacy: str
    media_ids: list[str]
    destination_ids: list[str]
    loop: bool
    duration_s: int | None
    playlist_id: str | None = None
    shuffle: bool = False
    loops: int | None = None
    handover_after_h: float = HANDOVER_AFTER_H


def _status_in(*statuses: str) -> Condition:
    return Stream.status.is_in(*statuses)


def _what_to_play(user_id: str, spec: StreamSpec) -> tuple[list[str], bool]:
    """The media ids in play order and the shuffle flag, every item the caller's and ready."""
    if bool(spec.media_ids) == bool(spec.playlist_id):
        raise InvalidInput("give either media_ids or playlist_id")
    if spec.playlist_id:
        playlist = playlists.read_playlist(user_id, spec.playlist_id)
        media_ids, shuffle = [str(m) for m in playlist.media_ids], bool(playlist.shuffle)
        if not media_ids:
            raise InvalidInput(f"playlist {spec.playlist_id} is empty; add media to it first")
    else:
        media_ids, shuffle = list(spec.media_ids), spec.shuffle
    found = find_media(user_id, media_ids)
    missing = playlists.missing_ids(media_ids, found)
    if missing and spec.playlist_id:
        raise InvalidInput(
            f"playlist {spec.playlist_id} lists media that no longer exist: "
            f"{playlists.describe_ids(missing)}; remove them from the playlist"
        )
    if missing:
        raise NotFound(f"media {playlists.describe_ids(missing)} not found")
    for media_id in dict.fromkeys(media_ids):
        if found[media_id].status != READY:
            raise InvalidInput(f"media {media_id} is {found[media_id].status}, not ready")
    return media_ids, shuffle


def create_stream(user_id: str, spec: StreamSpec) -> Stream:
    if spec.loop and spec.loops is not None:
        raise InvalidInput("loop (until stopped) and loops (a number of passes) exclude each other")
    if spec.loops is not None and not 1 <= spec.loops <= MAX_LOOPS:
        raise InvalidInput(f"loops must be 1 to {MAX_LOOPS}")
    if not MIN_HANDOVER_AFTER_H <= spec.handover_after_h <= MAX_HANDOVER_AFTER_H:
        raise InvalidInput(f"handover_after_h must be {MIN_HANDOVER_AFTER_H:g} to {MAX_HANDOVER_AFTER_H:g}")
    media_ids, shuffle = _what_to_play(user_id, spec)
    for destination_id in spec.destination_ids:
        get_destination(user_id, destination_id)
    stream_id = new_id("str")
    stream = Stream(
        user_pk(user_id),
        STREAM_PREFIX + stream_id,
        stream_id=stream_id,
        title=spec.title,
        description=spec.description,
        privacy=spec.privacy,
        playlist_id=spec.playlist_id,
        media_ids=media_ids,
        shuffle=shuffle,
        destination_ids=spec.destination_ids,
        loop=spec.loop,
        loops=spec.loops,
        duration_s=spec.duration_s,
        handover_after_h=spec.handover_after_h,
        status=DRAFT,
    )
    stream.save(condition=Stream.sk.does_not_exist())
    source = f" from playlist {spec.playlist_id}" if spec.playlist_id else ""
    record_event(
        user_id,
        stream_id,
        "created",
        f"{len(media_ids)} media{source} to {len(spec.destination_ids)} destinations",
    )
    return stream


def get_stream(user_id: str, stream_id: str, consistent: bool = False) -> Stream:
    try:
        return Stream.get(user_pk(user_id), STREAM_PREFIX + stream_id, consistent_read=consistent)
    except Stream.DoesNotExist:
        raise NotFound(f"stream {stream_id} not found") from None


def list_streams(user_id: str, limit: int, cursor: str | None) -> Page[Stream]:
    return query_page(Stream, user_id, STREAM_PREFIX, limit, cursor)


def active_streams(user_id: str) -> list[Stream]:
    return list(
        Stream.query(
            user_pk(user_id),
            Stream.sk.startswith(STREAM_PREFIX),
            filter_condition=_status_in(*ACTIVE),
        )
    )


def uses(streams: list[Stream], *, media_id: str | None = None, destination_id: str | None = None) -> bool:
    return any(media_id in s.media_ids or destination_id in s.destination_ids for s in streams)


def delete_stream(user_id: str, stream_id: str) -> None:
    stream = get_stream(user_id, stream_id)
    try:
        stream.delete(condition=_status_in(DRAFT, SCHEDULED, ENDED, FAILED))
    except DeleteError:
        raise InvalidState(f"stream {stream_id} is active; stop it before deleting") from None
    for event in StreamEvent.query(user_pk(user_id), StreamEvent.sk.startswith(_event_prefix(stream_id))):
        event.delete()


def start_stream(user_id: str, stream_id: str) -> Stream:
    """Idempotent: a stream already starting or live is left as it is; a double click launches one task."""
    stream = get_stream(user_id, stream_id, consistent=True)
    if stream.status in (STARTING, LIVE):
        return stream
    if stream.status not in STARTABLE:
        raise InvalidState(f"stream {stream_id} is {stream.status}; wait until it has ended")
    if not stream.media_ids or not stream.destination_ids:
        raise InvalidInput("a stream needs at least one media and one destination to start")
    limit = get_settings().max_concurrent_streams
    if len(active_streams(user_id)) >= limit:
        raise InvalidState(f"{limit} streams are already active, the most this account may run at once")
    run_id = new_id("run")
    try:
        stream.update(
            actions=[
                Stream.status.set(STARTING),
                Stream.run_id.set(run_id),
                Stream.started_at.set(utcnow()),
                Stream.ended_at.remove(),
                Stream.error.remove(),
                Stream.health.remove(),
            ],
            condition=_status_in(*STARTABLE) & (Stream.status == stream.status),
        )
    except UpdateError:
        return get_stream(user_id, stream_id, consistent=True)  # another request won the race
    record_event(user_id, stream_id, "starting", "task requested", run_id)
    get_launcher().start(stream_id, user_id, run_id)
    return stream


def stop_stream(user_id: str, stream_id: str) -> Stream:
    stream = get_stream(user_id, stream_id, consistent=True)
    if stream.status in (STOPPING, ENDED):
        return stream
    if stream.status not in (STARTING, LIVE):
        raise InvalidState(f"stream {stream_id} is {stream.status}, not running")
    try:
        stream.update(actions=[Stream.status.set(STOPPING)], condition=_status_in(STARTING, LIVE))
    except UpdateError:
        return get_stream(user_id, stream_id, consistent=True)
    record_event(user_id, stream_id, "stopping", "stop requested", stream.run_id)
    return stream


# --- the task's side of a run; every write is conditional on the run still being this one ---


def _this_run(run_id: str) -> Condition:
    return Stream.run_id == run_id


def claim_run(user_id: str, stream_id: str, run_id: str) -> Stream | None:
    """The stream if this run may play it (a retried task resumes a live run), else None."""
    stream = get_stream(user_id, stream_id, consistent=True)
    if stream.run_id != run_id or stream.status not in ACTIVE:
        return None
    return stream


def mark_live(stream: Stream) -> bool:
    try:
        stream.update(
            actions=[Stream.status.set(LIVE)],
            condition=_this_run(stream.run_id) & (Stream.status == STARTING),
        )
    except UpdateError:
        return False
    record_event(
        _owner(stream), stream.stream_id, "live", "ffmpeg is sending to every destination", stream.run_id
    )
    return True


def heartbeat(stream: Stream, health: dict[str, Any]) -> str | None:
    """Writes health; returns the status as it stands now (same request), or None if the run was replaced."""
    try:
        stream.update(
            actions=[Stream.health.set({**health, "updated_at": utcnow()})],
            condition=_this_run(stream.run_id),
        )
    except UpdateError:
        return None
    return str(stream.status)


def finish(stream: Stream, status: str, error: str | None = None) -> bool:
    actions: list[Action] = [Stream.status.set(status), Stream.ended_at.set(utcnow())]
    if error:
        actions.append(Stream.error.set(error))
    try:
        stream.update(actions=actions, condition=_this_run(stream.run_id) & _status_in(*ACTIVE))
    except UpdateError:
        return False
    record_event(_owner(stream), stream.stream_id, status, error or "", stream.run_id)
    return True


def _owner(stream: Stream) -> str:
    return str(stream.pk).removeprefix("USER#")


# --- events ---


def _event_prefix(stream_id: str) -> str:
    return f"{EVENT_PREFIX}{stream_id}#"


def record_event(
    user_id: str, stream_id: str, kind: str, message: str = "", run_id: str | None = None
) -> None:
    StreamEvent(
        user_pk(user_id),
        _event_prefix(stream_id) + new_id("evt"),
        stream_id=stream_id,
        type=kind,
        message=message,
        run_id=run_id,
        expires_at=EVENT_RETENTION,
    ).save()


def list_events(user_id: str, stream_id: str, limit: int, cursor: str | None) -> Page[StreamEvent]:
    get_stream(user_id, stream_id)
    return query_page(StreamEvent, user_id, _event_prefix(stream_id), limit, cursor)
