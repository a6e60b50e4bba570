"""Streams: the status machine (every transition a conditional write), the run handshake with the task,
and the events timeline."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from playout import health, playlists, schedules
from playout.destinations import RTMP
from playout.errors import InvalidInput, InvalidState, NotFound, PlayoutError, TooManyRequests
from playout.ids import new_id
from playout.launcher import get_launcher
from playout.media import READY, find_media
from playout.models import (
    DESTINATION_PREFIX,
    EVENT_PREFIX,
    MEDIA_PREFIX,
    PLAYLIST_PREFIX,
    PROFILE_SK,
    STREAM_PREFIX,
    Destination,
    Media,
    Playlist,
    Stream,
    StreamEvent,
    StreamHealthItem,
    UserProfile,
    YouTubeOptions,
    found,
    read_many,
    reading,
    user_pk,
    utcnow,
    writing,
)
from playout.pagination import Page, query_page
from playout.resources import ACTIVE_STREAMS_INDEX_VALUE, ENDED_RUNS_INDEX_VALUE
from playout.settings import get_settings

logger = logging.getLogger(__name__)

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
class StreamView:
    """A stream and its health item, as a request left them: what the API answers with."""

    stream: Stream
    health: StreamHealthItem | None


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
    scheduled_start: datetime | None = None
    made_for_kids: bool = False  # how a YouTube destination's broadcast is made
    latency_preference: str = "normal"
    enable_dvr: bool = True


class BroadcastMaker(Protocol):
    """The YouTube side of a start (playout.youtube.broadcasts.Broadcasts): checked before the run is made
    (nothing written when refused), then the run's broadcasts made once it is."""

    def check_start(self, user_id: str, stream: Stream) -> None: ...

    def open_broadcasts(self, user_id: str, stream: Stream) -> object: ...

    def end_broadcasts(self, user_id: str, stream_id: str, run_id: str) -> list[str]: ...


CONDITION_FAILED = "ConditionalCheckFailed"


def _status_in(*statuses: str) -> Condition:
    return Stream.status.is_in(*statuses)


@dataclass(frozen=True)
class _Plan:
    """What a new stream plays and where, as read for it."""

    media_ids: list[str]  # in play order
    shuffle: bool
    playlist_name: str | None  # when a playlist was given
    destination_types: list[str]  # in the order of the spec's destination_ids
    # Media not read: the stream's write checks them `ready` itself (a playlist's, when few enough).
    checked_in_write: list[str]


# A playlist's distinct media up to this many are checked by the stream's own write (a TransactWriteItems
# holds 100 items: these, the stream and its two events) instead of being read first.
_CHECKED_IN_WRITE = 97


def _what_to_play(user_id: str, spec: StreamSpec) -> _Plan:
    """The media in play order, every one the caller's and ready, and each destination's type: one
    BatchGetItem of the destinations with the media, or with the playlist whose media the write checks."""
    if bool(spec.media_ids) == bool(spec.playlist_id):
        raise InvalidInput("give either media_ids or playlist_id")
    pk = user_pk(user_id)
    destination_keys = [(Destination, pk, DESTINATION_PREFIX + d) for d in spec.destination_ids]
    playlist_name, checked_in_write = None, []
    if spec.playlist_id:
        read: list[Any] = read_many([(Playlist, pk, PLAYLIST_PREFIX + spec.playlist_id), *destination_keys])
        playlist = next((item for item in read if isinstance(item, Playlist)), None)
        if playlist is None:
            raise NotFound(f"playlist {spec.playlist_id} not found")
        media_ids, shuffle = [str(m) for m in playlist.media_ids], bool(playlist.shuffle)
        playlist_name = str(playlist.name)
        if not media_ids:
            raise InvalidInput(f"playlist {spec.playlist_id} is empty; add media to it first")
        if len(set(media_ids)) <= _CHECKED_IN_WRITE:
            checked_in_write = list(dict.fromkeys(media_ids))
        else:
            _check_playable(spec, media_ids, find_media(user_id, media_ids))
    else:
        media_ids, shuffle = list(spec.media_ids), spec.shuffle
        read = read_many([*((Media, pk, MEDIA_PREFIX + m) for m in media_ids), *destination_keys])
        _check_playable(spec, media_ids, {str(m.media_id): m for m in read if isinstance(m, Media)})
    destinations = {str(d.destination_id): d for d in read if isinstance(d, Destination)}
    for destination_id in spec.destination_ids:
        if destination_id not in destinations:
            raise NotFound(f"destination {destination_id} not found")
    types = [str(destinations[d].type) for d in spec.destination_ids]
    return _Plan(media_ids, shuffle, playlist_name, types, checked_in_write)


def _check_playable(spec: StreamSpec, media_ids: list[str], found: dict[str, Media]) -> None:
    missing = playlists.missing_ids(media_ids, found)
    if missing and spec.playlist_id:
        raise InvalidInput(
            f"playlist {spec.playlist_id} lists media that no longer exist: "
            f"{playlists.describe_ids(missing)}; remove them from the playlist"
        )
    if missing:
        raise InvalidInput(f"media {playlists.describe_ids(missing)} not found")
    for media_id in dict.fromkeys(media_ids):
        if found[media_id].status != READY:
            raise InvalidInput(f"media {media_id} is {found[media_id].status}, not ready")


def _condition_failed(error: PynamoDBException) -> bool:
    return error.cause_response_code == CONDITION_FAILED + "Exception"


def _cancelled_by_condition(error: TransactWriteError) -> list[bool]:
    """For each item of a cancelled transaction (in pynamodb's order: deletes, puts, updates): did its
    condition fail?"""
    if error.cause_response_code != "TransactionCanceledException":
        return []
    return [reason is not None and reason.code == CONDITION_FAILED for reason in error.cancellation_reasons]


def _profile(user_id: str) -> UserProfile:
    return UserProfile(user_pk(user_id), PROFILE_SK)


def create_stream(user_id: str, spec: StreamSpec, youtube: BroadcastMaker | None = None) -> StreamView:
    if spec.loop and spec.loops is not None:
        raise InvalidInput("loop (until stopped) and loops (a number of passes) exclude each other")
    if spec.loops is not None and not 1 <= spec.loops <= MAX_LOOPS:
        raise InvalidInput(f"loops must be 1 to {MAX_LOOPS}")
    if not MIN_HANDOVER_AFTER_H <= spec.handover_after_h <= MAX_HANDOVER_AFTER_H:
        raise InvalidInput(f"handover_after_h must be {MIN_HANDOVER_AFTER_H:g} to {MAX_HANDOVER_AFTER_H:g}")
    plan = _what_to_play(user_id, spec)
    media_ids = plan.media_ids
    scheduled_start = (
        schedules.checked_start(spec.scheduled_start, utcnow()) if spec.scheduled_start else None
    )
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
        shuffle=plan.shuffle,
        destination_ids=spec.destination_ids,
        destination_types=plan.destination_types,
        youtube=YouTubeOptions(
            made_for_kids=spec.made_for_kids,
            latency_preference=spec.latency_preference,
            enable_dvr=spec.enable_dvr,
        ),
        loop=spec.loop,
        loops=spec.loops,
        duration_s=spec.duration_s,
        handover_after_h=spec.handover_after_h,
        status=SCHEDULED if scheduled_start else DRAFT,
        scheduled_start=scheduled_start,
    )
    if scheduled_start and not schedules.due_now(scheduled_start, utcnow()):
        # The schedule first: one without its stream fires into nothing, a stream without one never starts.
        schedules.get_scheduler().put(schedules.ScheduledStart(user_id, stream_id, scheduled_start))
    try:
        _write_new_stream(stream, plan, spec, scheduled_start)
    except TransactWriteError as error:
        refused = _cancelled_by_condition(error)[: len(plan.checked_in_write)]
        if not any(refused):
            raise
        if scheduled_start:
            _drop_schedule(stream_id)
        # A playlist's media gone or not ready: read, for the reason, as a stream of media ids is told it.
        _check_playable(spec, media_ids, find_media(user_id, media_ids))
        raise InvalidState(f"playlist {spec.playlist_id}'s media changed meanwhile; try again") from None
    if scheduled_start and schedules.due_now(scheduled_start, utcnow()):
        started = start_scheduled_stream(user_id, stream_id, scheduled_start, youtube)
        if started is not None:
            return read_view(user_id, stream_id)
    return StreamView(stream, None)


def _write_new_stream(
    stream: Stream, plan: _Plan, spec: StreamSpec, scheduled_start: datetime | None
) -> None:
    """The stream, its first events and the check of the media not read: one write, all or nothing."""
    user_id, stream_id = _owner(stream), str(stream.stream_id)
    source = f' from playlist "{plan.playlist_name}"' if plan.playlist_name is not None else ""
    with writing() as transaction:
        for media_id in plan.checked_in_write:
            transaction.condition_check(
                Media, stream.pk, MEDIA_PREFIX + media_id, condition=Media.status == READY
            )
        transaction.save(stream, condition=Stream.sk.does_not_exist())
        transaction.save(
            _event(
                user_id,
                stream_id,
                "created",
                f"{len(plan.media_ids)} media{source} to {len(spec.destination_ids)} "
                f"destination{'' if len(spec.destination_ids) == 1 else 's'}",
            )
        )
        if scheduled_start:
            transaction.save(
                _event(user_id, stream_id, "scheduled", f"starts at {scheduled_start.isoformat()}")
            )


def get_stream(user_id: str, stream_id: str, consistent: bool = False) -> Stream:
    try:
        return Stream.get(user_pk(user_id), STREAM_PREFIX + stream_id, consistent_read=consistent)
    except Stream.DoesNotExist:
        raise NotFound(f"stream {stream_id} not found") from None


def read_view(user_id: str, stream_id: str) -> StreamView:
    """The stream and its health item in one consistent read."""
    with reading() as read:
        stream = read.get(Stream, user_pk(user_id), STREAM_PREFIX + stream_id)
        health_item = read.get(StreamHealthItem, *health.key_of(user_id, stream_id))
    found_stream = found(stream)
    if found_stream is None:
        raise NotFound(f"stream {stream_id} not found")
    return StreamView(found_stream, found(health_item))


def list_streams(user_id: str, limit: int, cursor: str | None) -> Page[Stream]:
    return query_page(Stream, user_id, STREAM_PREFIX, limit, cursor)


def active_streams(user_id: str, consistent: bool = False) -> list[Stream]:
    return list(
        Stream.query(
            user_pk(user_id),
            Stream.sk.startswith(STREAM_PREFIX),
            filter_condition=_status_in(*ACTIVE),
            consistent_read=consistent,
        )
    )


def active_stream_count(profile: UserProfile) -> int:
    """The counter the limit is enforced on, as the owner's profile (already read) holds it."""
    return max(0, int(profile.active_streams or 0))


def uses(streams: list[Stream], *, media_id: str | None = None, destination_id: str | None = None) -> bool:
    return any(media_id in s.media_ids or destination_id in s.destination_ids for s in streams)


def delete_stream(user_id: str, stream_id: str) -> None:
    """Deletes the stream and its health item in one conditional write. Its events are left to their TTL
    (EVENT_RETENTION): no request can reach them once the stream is gone (its timeline answers 404), and a
    stream's timeline can be long, which one bounded write could not delete."""
    stream = get_stream(user_id, stream_id, consistent=True)
    try:
        with writing() as transaction:
            transaction.delete(stream, condition=_status_in(DRAFT, SCHEDULED, ENDED, FAILED))
            transaction.delete(StreamHealthItem(*health.key_of(user_id, stream_id)))
    except TransactWriteError as error:
        if not any(_cancelled_by_condition(error)):
            raise
        raise InvalidState(f"stream {stream_id} is active; stop it before deleting") from None
    if stream.status == SCHEDULED:
        schedules.get_scheduler().delete(stream_id)


# --- starting: the status and the user's active-stream counter change in one transaction ---


def start_stream(user_id: str, stream_id: str, youtube: BroadcastMaker | None = None) -> StreamView:
    """Idempotent: a stream already starting or live is left as it is; a double click launches one task.

    A scheduled stream started by hand starts now: its schedule is dropped."""
    view = read_view(user_id, stream_id)
    if view.stream.status in (STARTING, LIVE):
        return view
    return _start(user_id, view, keep_schedule=False, youtube=youtube)


def start_scheduled_stream(
    user_id: str, stream_id: str, scheduled_start: datetime, youtube: BroadcastMaker | None = None
) -> Stream | None:
    """What a schedule fires: starts the stream if it is still scheduled for that time; the task then holds
    its first frame until `scheduled_start`. A start refused (limit reached, media gone) fails the stream
    with the reason, so it does not stay `scheduled` in the past. None when the schedule is stale."""
    try:
        view = read_view(user_id, stream_id)
    except NotFound:
        return None
    stream = view.stream
    if stream.status != SCHEDULED or stream.scheduled_start != scheduled_start:
        logger.info("stale schedule ignored", extra={"stream_id": stream_id, "status": stream.status})
        return None
    try:
        return _start(user_id, view, keep_schedule=True, youtube=youtube).stream
    except PlayoutError as refused:
        # Refused before the run was made (limit, media gone, YouTube's quota or grant): `failed`, with why.
        # Refused after (a YouTube call part-way): `_start` already failed the run with the reason.
        _fail_scheduled(stream, f"could not start at its scheduled time: {refused.message}")
        return get_stream(user_id, stream_id, consistent=True)


def _start(
    user_id: str, view: StreamView, *, keep_schedule: bool, youtube: BroadcastMaker | None = None
) -> StreamView:
    """One transaction: the stream's status, the owner's active-stream counter, the health item's new run
    and the timeline's event. The answer is the stream as that write left it, not read again."""
    stream = view.stream
    stream_id = stream.stream_id
    previous = str(stream.status)
    if previous not in STARTABLE:
        raise InvalidState(f"stream {stream_id} is {previous}; wait until it has ended")
    if not stream.media_ids or not stream.destination_ids:
        raise InvalidInput("a stream needs at least one media and one destination to start")
    on_youtube = youtube is not None and _may_have_youtube(stream)
    if youtube is not None and on_youtube:
        youtube.check_start(user_id, stream)
    limit = get_settings().max_concurrent_streams
    run_id = new_id("run")
    started_at = utcnow()
    actions: list[Action] = [
        Stream.status.set(STARTING),
        Stream.run_id.set(run_id),
        Stream.started_at.set(started_at),
        Stream.active_index_pk.set(ACTIVE_STREAMS_INDEX_VALUE),
        Stream.ended_at.remove(),
        Stream.error.remove(),
        Stream.task_arn.remove(),
    ]
    if not keep_schedule:
        actions.append(Stream.scheduled_start.remove())
    try:
        with writing() as transaction:
            transaction.save(_event(user_id, stream_id, "starting", "task requested", run_id))
            transaction.update(stream, actions=actions, condition=Stream.status == previous)
            transaction.update(
                _profile(user_id),
                actions=[UserProfile.active_streams.add(1)],
                condition=UserProfile.active_streams.does_not_exist() | (UserProfile.active_streams < limit),
            )
            health_item, health_actions = health.new_run(user_id, stream_id, run_id)
            transaction.update(health_item, actions=health_actions)
    except TransactWriteError as error:
        failed = _cancelled_by_condition(error)  # the event (a put) first, then the stream, the profile
        if failed[1:2] == [True]:
            return read_view(user_id, stream_id)  # another request won the race
        if failed[2:3] == [True]:
            raise TooManyRequests(
                f"{limit} streams are already active, the most this account may run at once; "
                "stop one before starting another"
            ) from None
        raise
    stream.status, stream.run_id, stream.started_at = STARTING, run_id, started_at
    stream.active_index_pk = ACTIVE_STREAMS_INDEX_VALUE
    stream.ended_at = stream.error = stream.task_arn = None
    if not keep_schedule:
        stream.scheduled_start = None
    started = StreamView(stream, health.as_new_run(view.health, user_id, stream_id, run_id))
    if previous == SCHEDULED and not keep_schedule:
        _drop_schedule(stream_id)
    if youtube is not None and on_youtube:
        _open_broadcasts(user_id, stream_id, run_id, youtube)
        started = read_view(user_id, stream_id)  # with the broadcasts the start wrote on it
    try:
        get_launcher().start(stream_id, user_id, run_id)
    except Exception as error:
        # The status is written: without this, the stream would stay `starting` with nothing behind it.
        logger.exception("launch failed", extra={"stream_id": stream_id, "run_id": run_id})
        finish(
            started.stream, FAILED, f"the stream task could not be launched ({_error_name(error)}); try again"
        )
        if youtube is not None:
            youtube.end_broadcasts(user_id, stream_id, run_id)
        return read_view(user_id, stream_id)
    return started


def _may_have_youtube(stream: Stream) -> bool:
    """False when the stream's destination types, recorded at its creation, are all RTMP: nothing to read."""
    types = list(stream.destination_types or [])
    return not types or any(t != RTMP for t in types)


def _open_broadcasts(user_id: str, stream_id: str, run_id: str, youtube: BroadcastMaker) -> None:
    """The run's YouTube broadcasts, made before its task is launched; a failure fails the run with the
    reason (its broadcasts already deleted) and is raised for the API's answer."""
    started = get_stream(user_id, stream_id, consistent=True)
    if started.run_id != run_id:
        return
    try:
        youtube.open_broadcasts(user_id, started)
    except Exception as error:
        reason = (
            error.message
            if isinstance(error, PlayoutError)
            else f"the YouTube broadcast could not be made ({type(error).__name__}); try again"
        )
        if not isinstance(error, PlayoutError):
            logger.exception("youtube broadcast failed", extra={"stream_id": stream_id, "run_id": run_id})
        finish(started, FAILED, f"YouTube: {reason}")
        raise


def _error_name(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__


def _drop_schedule(stream_id: str) -> None:
    try:
        schedules.get_scheduler().delete(stream_id)
    except (BotoCoreError, ClientError):
        # A schedule left behind finds the stream no longer scheduled and does nothing.
        logger.warning("could not delete a schedule", extra={"stream_id": stream_id}, exc_info=True)


def _fail_scheduled(stream: Stream, reason: str) -> None:
    try:
        stream.update(
            actions=[Stream.status.set(FAILED), Stream.error.set(reason), Stream.ended_at.set(utcnow())],
            condition=Stream.status == SCHEDULED,
        )
    except UpdateError as error:
        if not _condition_failed(error):
            raise
        return
    record_event(_owner(stream), stream.stream_id, FAILED, reason)


# --- schedules ---


def reschedule_stream(
    user_id: str, stream_id: str, scheduled_start: datetime, youtube: BroadcastMaker | None = None
) -> StreamView:
    view = read_view(user_id, stream_id)
    stream = view.stream
    if stream.status != SCHEDULED:
        raise InvalidState(f"stream {stream_id} is {stream.status}; only a scheduled stream can be moved")
    at = schedules.checked_start(scheduled_start, utcnow())
    starts_now = schedules.due_now(at, utcnow())
    if not starts_now:
        # The schedule first: if the write below then finds the stream no longer scheduled, the moved schedule
        # fires into a stream that is not `scheduled` and does nothing.
        schedules.get_scheduler().put(schedules.ScheduledStart(user_id, stream_id, at))
    _change_schedule(
        stream,
        [Stream.scheduled_start.set(at)],
        _event(user_id, stream_id, "rescheduled", f"starts at {at.isoformat()}"),
        refused=f"stream {stream_id} is no longer scheduled",
    )
    stream.scheduled_start = at
    if starts_now:
        _drop_schedule(stream_id)
        if start_scheduled_stream(user_id, stream_id, at, youtube) is not None:
            return read_view(user_id, stream_id)
    return view


def cancel_schedule(user_id: str, stream_id: str) -> StreamView:
    view = read_view(user_id, stream_id)
    stream = view.stream
    _change_schedule(
        stream,
        [Stream.status.set(DRAFT), Stream.scheduled_start.remove()],
        _event(user_id, stream_id, "unscheduled", "the scheduled start was cancelled"),
        refused=f"stream {stream_id} is {stream.status}, not scheduled",
    )
    stream.status, stream.scheduled_start = DRAFT, None
    _drop_schedule(stream_id)
    return view


def _change_schedule(stream: Stream, actions: list[Action], event: StreamEvent, refused: str) -> None:
    """`actions` on a stream still scheduled, with the timeline's event, in one write; InvalidState if not."""
    try:
        with writing() as transaction:
            transaction.save(event)
            transaction.update(stream, actions=actions, condition=Stream.status == SCHEDULED)
    except TransactWriteError as error:
        if not any(_cancelled_by_condition(error)):
            raise
        raise InvalidState(refused) from None


# --- stopping ---


def stop_stream(user_id: str, stream_id: str) -> StreamView:
    """Writes `stopping`, then has the run's task stopped at once (SIGTERM), even while it downloads media.
    Idempotent: stopping a stream that is already stopping asks its task to stop again."""
    view = read_view(user_id, stream_id)
    stream = view.stream
    if stream.status == ENDED:
        return view
    if stream.status not in ACTIVE:
        raise InvalidState(f"stream {stream_id} is {stream.status}, not running")
    if stream.status != STOPPING:
        try:
            with writing() as transaction:
                transaction.save(_event(user_id, stream_id, "stopping", "stop requested", stream.run_id))
                transaction.update(
                    stream,
                    actions=[Stream.status.set(STOPPING)],
                    condition=_status_in(STARTING, LIVE) & _this_run(stream.run_id),
                )
                health_item, health_actions = health.stop_run(user_id, stream_id)
                transaction.update(health_item, actions=health_actions)  # the stream's condition guards both
        except TransactWriteError as error:
            if not any(_cancelled_by_condition(error)):
                raise
            return read_view(user_id, stream_id)
        stream.status = STOPPING
        if view.health is not None:
            view.health.wanted = health.WANT_STOP
    try:
        get_launcher().stop(stream_id, user_id, str(stream.run_id), stream.task_arn)
    except Exception:
        # The task still finds `stopping` on its next heartbeat; the watchdog settles a run left without one.
        logger.exception("could not stop the task", extra={"stream_id": stream_id, "run_id": stream.run_id})
    return view


# --- the task's side of a run; every write is conditional on the run still being this one ---


def _this_run(run_id: str | None) -> Condition:
    return Stream.run_id == run_id


def claim_run(user_id: str, stream_id: str, run_id: str) -> Stream | None:
    """The stream if this run may play it (a retried task resumes a live run), else None."""
    stream = get_stream(user_id, stream_id, consistent=True)
    if stream.run_id != run_id or stream.status not in ACTIVE:
        return None
    return stream


def record_task(stream: Stream, task_arn: str) -> bool:
    """Which task plays the run (what `stop` and the watchdog stop); False if the run was superseded."""
    try:
        stream.update(actions=[Stream.task_arn.set(task_arn)], condition=_this_run(stream.run_id))
    except UpdateError as error:
        if _condition_failed(error):
            return False
        raise
    return True


def mark_live(stream: Stream) -> bool:
    """False only when the run was superseded or is no longer starting; any other error raises (retry it)."""
    try:
        stream.update(
            actions=[Stream.status.set(LIVE)],
            condition=_this_run(stream.run_id) & (Stream.status == STARTING),
        )
    except UpdateError as error:
        if _condition_failed(error):
            return False
        raise
    record_event(_owner(stream), stream.stream_id, "live", "on air", stream.run_id)
    return True


def finish(stream: Stream, status: str, error: str | None = None) -> bool:
    """Ends the run with `status` (`ended` or `failed`) and gives its slot back to the user's limit, in one
    transaction. False only when the run was superseded or already ended; any other error raises, so that
    the caller can retry (or exit non-zero for the workflow to write it)."""
    actions: list[Action] = [
        Stream.status.set(status),
        Stream.ended_at.set(utcnow()),
        Stream.active_index_pk.set(ENDED_RUNS_INDEX_VALUE),
    ]
    if error:
        actions.append(Stream.error.set(error))
    try:
        with writing() as transaction:
            transaction.save(_event(_owner(stream), stream.stream_id, status, error or "", stream.run_id))
            transaction.update(
                stream, actions=actions, condition=_this_run(stream.run_id) & _status_in(*ACTIVE)
            )
            transaction.update(_profile(_owner(stream)), actions=[UserProfile.active_streams.add(-1)])
    except TransactWriteError as failure:
        if _cancelled_by_condition(failure)[1:2] == [True]:  # the stream's (after the event's put)
            return False
        raise
    stream.status = status
    return True


def _owner(stream: Stream) -> str:
    return str(stream.pk).removeprefix("USER#")


# --- events ---


def _event_prefix(stream_id: str) -> str:
    return f"{EVENT_PREFIX}{stream_id}#"


def _event(
    user_id: str, stream_id: str, kind: str, message: str = "", run_id: str | None = None
) -> StreamEvent:
    """A new event of the stream's timeline, to be written with the change it tells of."""
    return StreamEvent(
        user_pk(user_id),
        _event_prefix(stream_id) + new_id("evt"),
        stream_id=stream_id,
        type=kind,
        message=message,
        run_id=run_id,
        expires_at=EVENT_RETENTION,
    )


def record_event(
    user_id: str, stream_id: str, kind: str, message: str = "", run_id: str | None = None
) -> None:
    _event(user_id, stream_id, kind, message, run_id).save()


def list_events(user_id: str, stream_id: str, limit: int, cursor: str | None) -> Page[StreamEvent]:
    get_stream(user_id, stream_id)
    return query_page(StreamEvent, user_id, _event_prefix(stream_id), limit, cursor)
