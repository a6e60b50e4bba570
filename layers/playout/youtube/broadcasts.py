"""A stream's YouTube broadcasts: one liveBroadcast per YouTube destination per run, bound to the channel's
reusable liveStream, whose ingest the stream task pushes to like any RTMP(S) destination.

Where each call runs (docs/contracts.md, "YouTube broadcasts"):

- the start (the API's or the scheduled start's Lambda, `open_broadcasts`), after the conditional write
  that made the run, so once per run: liveStreams.insert (a channel's first start only), then
  liveBroadcasts.insert and liveBroadcasts.bind. Each broadcast's item is claimed (`opening`) before YouTube
  is asked, and every later write is conditional on the state it leaves: a retried start finds the claim and
  asks nothing twice. A failure part-way deletes what this run made (liveBroadcasts.delete) and fails the
  stream with the reason.
- the stream task (`set_thumbnails`): thumbnails.set, best effort, claimed on the item so that a task that
  resumes the run does not set it again; the task has the ffmpeg that turns the media's WebP into a JPEG.
- the end of the run (`end_broadcasts`: the task when it concludes a run it played, stopped or failed; the
  watchdog for a run whose task died): liveBroadcasts.list, then transition to `complete` (a broadcast that
  went live) or delete (one that never did), claimed (`ending`) first.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any, Final

from googleapiclient.http import MediaInMemoryUpload
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from playout import crypto
from playout.destinations import SPARE_STREAM_KEY_PURPOSE, validate_ingest_url
from playout.errors import InvalidState, NotFound, PlayoutError
from playout.models import (
    DESTINATION_PREFIX,
    BroadcastRef,
    Destination,
    Stream,
    YouTubeBroadcast,
    user_pk,
    utcnow,
)
from playout.settings import Settings, YouTubeSettings
from playout.streams import active_streams
from playout.youtube.api import YouTubeApi, YouTubeCallError
from playout.youtube.channels import NEEDS_RECONNECT, YOUTUBE, mark_needs_reconnect
from playout.youtube.endpoints import WATCH_URL
from playout.youtube.errors import ChannelNeedsAction, Next
from playout.youtube.google import GoogleProject, project_for
from playout.youtube.quota import COST_UNITS, YouTubeCall

logger = logging.getLogger(__name__)

OPENING, CREATED, BOUND, ENDING, COMPLETE, DELETED, FAILED = (
    "opening",
    "created",
    "bound",
    "ending",
    "complete",
    "deleted",
    "failed",
)
OPEN_STATES: Final = (CREATED, BOUND)  # a broadcast that exists on YouTube and is not over
# An `ending` claim this old was left by a process that died mid-way (a task killed, a Lambda timed out):
# another may take it over. Far longer than an end takes (two calls, each retried once).
ENDING_ABANDONED_AFTER: Final = timedelta(minutes=10)
THUMBNAIL_SETTING, THUMBNAIL_SET, THUMBNAIL_FAILED = "setting", "set", "failed"
RETENTION: Final = timedelta(days=400)
LIVE_STREAM_TITLE: Final = "Playout"
ON_AIR_STATES: Final = frozenset({"testStarting", "testing", "liveStarting", "live"})
UNUSED_STATES: Final = frozenset({"created", "ready"})
CONDITION_FAILED: Final = "ConditionalCheckFailedException"
# What may go right later: an end refused so is put back for the watchdog's next sweep.
ENDS_TRIED_AGAIN: Final = frozenset({Next.RETRY_LATER, Next.REREAD, Next.RECONNECT, Next.REFRESH_ACCESS})

# A run's calls, for the quota check before a start (the task's thumbnail and the end are counted too, so a
# stream that starts can also end its broadcast).
START_CALLS: Final = (YouTubeCall.BROADCASTS_INSERT, YouTubeCall.BROADCASTS_BIND)
TASK_CALLS: Final = (YouTubeCall.THUMBNAILS_SET,)
END_CALLS: Final = (YouTubeCall.BROADCASTS_LIST, YouTubeCall.BROADCASTS_TRANSITION)


def units_of(calls: tuple[YouTubeCall, ...]) -> int:
    return sum(COST_UNITS[call] for call in calls)


def watch_url(broadcast_id: str) -> str:
    return WATCH_URL.format(video_id=broadcast_id)


def youtube_safe(text: str, limit: int) -> str:
    """YouTube refuses `<` and `>` in a broadcast's title and description."""
    return text.replace("<", "\u2039").replace(">", "\u203a")[:limit]


@dataclass(frozen=True)
class _Slot:
    """Where a destination keeps one of its channel's reusable liveStreams (the names of its attributes)."""

    live_stream_id: str
    url: str
    key: str
    key_purpose: str | None


MAIN_SLOT: Final = _Slot("live_stream_id", "url", "stream_key_ciphertext", None)
SPARE_SLOT: Final = _Slot(
    "spare_live_stream_id", "spare_url", "spare_stream_key_ciphertext", SPARE_STREAM_KEY_PURPOSE
)


@dataclass
class Broadcasts:
    """What the start, the task and the watchdog do with a stream's YouTube destinations."""

    project: GoogleProject
    allow_loopback_ingests: bool = False  # local mode: the emulator's ingest is on this machine
    # The start makes liveStreams and encrypts their keys; the stream task (no kms:Encrypt) never does.
    makes_live_streams: bool = True

    # --- the start ---

    def youtube_destinations(self, user_id: str, stream: Stream) -> list[Destination]:
        types = list(stream.destination_types or [])
        ids = [str(d) for d in stream.destination_ids]
        if types and YOUTUBE not in types:
            return []
        keys = [(user_pk(user_id), DESTINATION_PREFIX + d) for d in ids]
        found = {str(d.destination_id): d for d in Destination.batch_get(keys)}
        return [found[d] for d in ids if d in found and found[d].type == YOUTUBE]

    def check_start(self, user_id: str, stream: Stream) -> None:
        """Before the run is made: YouTube is set up, every channel's grant is good, and today's quota holds
        the whole run's calls. Raises the API's answer (503, 409, 429) otherwise, having changed nothing."""
        destinations = self.youtube_destinations(user_id, stream)
        if not destinations:
            return
        client = self.project.oauth_client()  # YouTubeNotConfigured (503) when there is no client
        for destination in destinations:
            if destination.state == NEEDS_RECONNECT:
                raise ChannelNeedsAction(
                    f"YouTube channel {destination.channel_title} must be connected again before it can "
                    "stream (its access was revoked or has expired)"
                )
            if destination.oauth_client_id and destination.oauth_client_id != client.client_id:
                # A grant belongs to the OAuth client that asked for it: Google refuses it to another one.
                raise ChannelNeedsAction(
                    f"YouTube channel {destination.channel_title} was connected through another Google OAuth "
                    "client than this installation's; connect it again"
                )
        units = sum(
            units_of(START_CALLS + TASK_CALLS + END_CALLS)
            + COST_UNITS[YouTubeCall.STREAMS_INSERT] * len(_missing_slots(destination))
            for destination in destinations
        )
        self.project.ledger().require(units, f"starting a stream on {len(destinations)} YouTube channel(s)")
        _require_channels_free(user_id, stream, destinations)

    def open_broadcasts(self, user_id: str, stream: Stream) -> list[BroadcastRef]:
        """The run's broadcasts, made and bound (the start, after the run's conditional write); written on the
        stream. On a failure, what this run made is deleted and the error raised for the stream's reason."""
        destinations = self.youtube_destinations(user_id, stream)
        if not destinations:
            return []
        opened: list[BroadcastRef] = []
        try:
            # Again now that this run is written (the check before it is a read another start can race):
            # of two runs on one channel, each sees the other here, and the later one gives way.
            _require_channels_free(user_id, stream, destinations, consistent=True)
            for destination in destinations:
                self._make_live_streams(user_id, destination)
                item = self.open_part(user_id, stream, destination)
                opened.append(
                    BroadcastRef(destination_id=item.destination_id, broadcast_id=item.broadcast_id)
                )
        except Exception:
            self._roll_back(user_id, stream)
            raise
        try:
            stream.update(actions=[Stream.broadcasts.set(opened)], condition=Stream.run_id == stream.run_id)
        except UpdateError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            self._roll_back(user_id, stream)
            raise InvalidState(f"stream {stream.stream_id} was started again meanwhile") from None
        return opened

    def _make_live_streams(self, user_id: str, destination: Destination) -> None:
        """The channel's two reusable liveStreams, made at its first start (the start can encrypt their keys;
        the stream task, which rotates from one to the other, cannot)."""
        missing = _missing_slots(destination)
        if missing:
            api = self.api_for(user_id, destination)
            for slot in missing:
                self._live_stream(api, user_id, destination, spare=slot is SPARE_SLOT)

    def api_for(self, user_id: str, destination: Destination, num_retries: int | None = None) -> YouTubeApi:
        credentials = self.project.credentials_for(user_id, destination)
        return YouTubeApi(
            self.project,
            credentials,
            on_revoked=lambda: mark_needs_reconnect(user_id, destination),
            num_retries=num_retries,
        )

    def open_part(
        self,
        user_id: str,
        stream: Stream,
        destination: Destination,
        *,
        part: int = 1,
        spare: bool = False,
        reason: str | None = None,
    ) -> YouTubeBroadcast:
        """Part `part` of the run's broadcasts on `destination`: claimed, inserted and bound to the channel's
        main reusable liveStream (or its `spare` one, made when first needed). A failure part-way deletes what
        this part made and raises; the run's other parts are left as they are."""
        run_id, destination_id = str(stream.run_id), str(destination.destination_id)
        item = YouTubeBroadcast(
            user_pk(user_id),
            YouTubeBroadcast.key_of(stream.stream_id, run_id, destination_id, part),
            stream_id=stream.stream_id,
            run_id=run_id,
            destination_id=destination_id,
            part=part,
            state=OPENING,
            reason=reason,
            expires_at=RETENTION,
        )
        try:
            item.save(condition=YouTubeBroadcast.sk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            raise InvalidState(
                f"part {part} of the YouTube broadcasts of run {run_id} is already being made"
            ) from None
        try:
            self._make(user_id, stream, destination, item, spare)
        except Exception:
            if item.state == OPENING:
                settle(item, OPENING, FAILED, "YouTube did not make the broadcast")
            elif item.state in OPEN_STATES:
                self.end_part(user_id, item, reason="making it failed part-way")
            raise
        logger.info(
            "youtube broadcast bound",
            extra={
                "stream_id": stream.stream_id,
                "run_id": run_id,
                "part": part,
                "broadcast_id": item.broadcast_id,
            },
        )
        return item

    def _make(
        self, user_id: str, stream: Stream, destination: Destination, item: YouTubeBroadcast, spare: bool
    ) -> None:
        api = self.api_for(user_id, destination)
        live_stream_id = self._live_stream(api, user_id, destination, spare=spare)
        answer = api.execute(
            YouTubeCall.BROADCASTS_INSERT,
            api.service.liveBroadcasts().insert(
                part="snippet,status,contentDetails", body=self._broadcast_body(stream)
            ),
        )
        _move(item, OPENING, CREATED, broadcast_id=str(answer["id"]))
        try:
            self._bind(api, str(item.broadcast_id), live_stream_id, item)
        except YouTubeCallError as error:
            # liveStreamNotFound: the channel's liveStream was deleted on YouTube; a new one is made once.
            if error.reason != "liveStreamNotFound":
                raise
            live_stream_id = self._live_stream(api, user_id, destination, spare=spare, replace=True)
            self._bind(api, str(item.broadcast_id), live_stream_id, item)

    def _bind(self, api: YouTubeApi, broadcast_id: str, live_stream_id: str, item: YouTubeBroadcast) -> None:
        api.execute(
            YouTubeCall.BROADCASTS_BIND,
            api.service.liveBroadcasts().bind(part="id,status", id=broadcast_id, streamId=live_stream_id),
        )
        _move(item, CREATED, BOUND, live_stream_id=live_stream_id)

    def _broadcast_body(self, stream: Stream) -> dict[str, Any]:
        options = stream.youtube
        starts = stream.scheduled_start or utcnow()
        return {
            "snippet": {
                "title": youtube_safe(str(stream.title), 100),
                "description": youtube_safe(str(stream.description or ""), 5000),
                "scheduledStartTime": starts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "status": {
                "privacyStatus": str(stream.privacy),
                "selfDeclaredMadeForKids": bool(options.made_for_kids) if options else False,
            },
            "contentDetails": {
                "enableAutoStart": True,  # live as soon as the stream task's data arrives
                "enableAutoStop": False,  # a task's restart must not end it: the end says so explicitly
                "latencyPreference": str(options.latency_preference) if options else "normal",
                "enableDvr": bool(options.enable_dvr) if options else True,
                "monitorStream": {"enableMonitorStream": False},
                "recordFromStart": True,
            },
        }

    def _live_stream(
        self,
        api: YouTubeApi,
        user_id: str,
        destination: Destination,
        *,
        spare: bool = False,
        replace: bool = False,
    ) -> str:
        """One of the channel's reusable liveStreams (the main one, or the `spare` a rotation moves to): made
        when first needed, kept on the destination with its ingest (RTMPS preferred) and its key (KMS), which
        the stream task reads like an RTMP destination's."""
        slot = SPARE_SLOT if spare else MAIN_SLOT
        previous = getattr(destination, slot.live_stream_id)
        if previous and not replace:
            return str(previous)
        if not self.makes_live_streams:
            raise InvalidState(
                f"YouTube channel {destination.channel_title}'s ingest is gone on YouTube; the stream's next "
                "start makes a new one"
            )
        answer = api.execute(
            YouTubeCall.STREAMS_INSERT,
            api.service.liveStreams().insert(
                part="snippet,cdn,contentDetails,status",
                body={
                    "snippet": {
                        "title": LIVE_STREAM_TITLE + (" (rotation)" if spare else ""),
                        "description": "Playout's ingest for this channel",
                    },
                    "cdn": {"ingestionType": "rtmp", "resolution": "variable", "frameRate": "variable"},
                    "contentDetails": {"isReusable": True},
                },
            ),
        )
        info = answer["cdn"]["ingestionInfo"]
        address = info.get("rtmpsIngestionAddress") or info["ingestionAddress"]
        url = validate_ingest_url(str(address), allow_loopback=self.allow_loopback_ingests)
        destination_id = str(destination.destination_id)
        key = crypto.encrypt(str(info["streamName"]), user_id, destination_id, purpose=slot.key_purpose)
        field = getattr(Destination, slot.live_stream_id)
        condition = field.does_not_exist() if previous is None else field == previous
        try:
            destination.update(
                actions=[
                    field.set(str(answer["id"])),
                    getattr(Destination, slot.url).set(url),
                    getattr(Destination, slot.key).set(key),
                ],
                condition=condition,
            )
        except UpdateError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            # Another start of this channel made one meanwhile: use it (this one stays unused on YouTube).
            destination.refresh(consistent_read=True)
            return str(getattr(destination, slot.live_stream_id))
        return str(answer["id"])

    def _roll_back(self, user_id: str, stream: Stream) -> None:
        """Deletes every broadcast this run made (none went live: the task was not launched yet)."""
        for item in run_items(user_id, stream.stream_id, str(stream.run_id)):
            if item.state == OPENING:
                settle(item, OPENING, FAILED, "the start failed before YouTube made the broadcast")
            elif item.state in OPEN_STATES:
                self.end_part(user_id, item, reason="the start failed part-way")

    # --- the stream task ---

    def set_thumbnails(self, user_id: str, stream: Stream, jpeg: Callable[[], bytes | None]) -> None:
        """thumbnails.set on each of the run's broadcasts whose thumbnail nobody has set yet; best effort
        (logged). `jpeg` makes the picture once, when a broadcast needs it."""
        image: bytes | None = None
        for item in run_items(user_id, stream.stream_id, str(stream.run_id)):
            if item.state != BOUND or item.thumbnail is not None:
                continue
            try:
                item.update(
                    actions=[YouTubeBroadcast.thumbnail.set(THUMBNAIL_SETTING)],
                    condition=YouTubeBroadcast.thumbnail.does_not_exist(),
                )
            except UpdateError as error:
                if error.cause_response_code != CONDITION_FAILED:
                    raise
                continue  # another task of the run has it
            try:
                image = image if image is not None else jpeg()
                if image is None:
                    raise NotFound("the stream's first media has no thumbnail")
                destination = load_destination(user_id, str(item.destination_id))
                api = self.api_for(user_id, destination)
                api.execute(
                    YouTubeCall.THUMBNAILS_SET,
                    api.service.thumbnails().set(
                        videoId=str(item.broadcast_id), media_body=MediaInMemoryUpload(image, "image/jpeg")
                    ),
                )
            except PlayoutError as error:
                logger.warning(
                    "the broadcast's thumbnail was not set",
                    extra={"broadcast_id": item.broadcast_id, "reason": error.message},
                )
                item.update(actions=[YouTubeBroadcast.thumbnail.set(THUMBNAIL_FAILED)])
            else:
                item.update(actions=[YouTubeBroadcast.thumbnail.set(THUMBNAIL_SET)])

    # --- the end of a run ---

    def end_broadcasts(self, user_id: str, stream_id: str, run_id: str) -> list[str]:
        """Ends each broadcast of the run that is still open: `complete` if it went live, deleted if it never
        did; an end another process claimed and abandoned is taken over. Returns what is left to try again
        (each also logged), empty when every broadcast of the run is over."""
        problems = []
        abandoned_before = utcnow() - ENDING_ABANDONED_AFTER
        for item in run_items(user_id, stream_id, run_id):
            fresh = item.updated_at is not None and item.updated_at >= abandoned_before
            if item.state == OPENING and fresh:
                # A part still being made (a keeper closing mid-rotation): ended by a later look.
                problems.append(f"part {item.part} of the YouTube broadcasts is being made")
            elif item.state == OPENING:
                settle(item, OPENING, FAILED, "abandoned while YouTube was making it")
            elif item.state == ENDING and fresh:
                # Another process is ending it, or died doing so: looked at again once the claim is old.
                problems.append(f"YouTube broadcast {item.broadcast_id} is being ended")
            elif item.state in OPEN_STATES or item.state == ENDING:
                problem = self.end_part(user_id, item, reason=None)
                if problem:
                    problems.append(problem)
        return problems

    def end_part(self, user_id: str, item: YouTubeBroadcast, reason: str | None) -> str | None:
        """Claims the item (`ending`), then completes its broadcast if it went live or deletes it if it never
        did. Whatever goes wrong that may go right later (YouTube unavailable, a database or KMS error, a
        broadcast still on its way to live) puts the claim back for the next try: a broadcast is never left
        live on YouTube with nothing to end it."""
        before = str(item.state)
        try:
            item.update(
                actions=[YouTubeBroadcast.state.set(ENDING), YouTubeBroadcast.updated_at.set(utcnow())],
                condition=(YouTubeBroadcast.state == before)
                & (YouTubeBroadcast.updated_at == item.updated_at),
            )
        except UpdateError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            return None  # another part of the system is ending it
        broadcast_id = str(item.broadcast_id)
        back = ENDING if before == ENDING else before  # what a next try claims again
        try:
            final = self._end_on_youtube(user_id, item)
        except PlayoutError as error:
            retry = isinstance(error, WaitingForReconnect) or (
                isinstance(error, YouTubeCallError) and error.problem.next in ENDS_TRIED_AGAIN
            )
            settle(item, ENDING, back if retry else FAILED, error.message)
            logger.warning(
                "the youtube broadcast could not be ended",
                extra={"broadcast_id": broadcast_id, "reason": error.message, "again": retry},
            )
            return f"YouTube broadcast {broadcast_id} could not be ended: {error.message}"
        except Exception as error:  # DynamoDB, KMS: tried again at the next sweep
            logger.exception("ending the youtube broadcast failed", extra={"broadcast_id": broadcast_id})
            with contextlib.suppress(Exception):
                settle(item, ENDING, back, f"ending failed: {type(error).__name__}")
            return f"YouTube broadcast {broadcast_id} could not be ended yet; it will be tried again"
        settle(item, ENDING, final, reason)
        logger.info("youtube broadcast ended", extra={"broadcast_id": broadcast_id, "state": final})
        return None

    def _end_on_youtube(self, user_id: str, item: YouTubeBroadcast) -> str:
        """The end for YouTube's state of the broadcast: COMPLETE or DELETED; YouTubeCallError (REREAD) for a
        broadcast still on its way to live, whose end must wait for it."""
        broadcast_id = str(item.broadcast_id)
        destination = load_destination(user_id, str(item.destination_id))
        if destination.state == NEEDS_RECONNECT:
            raise WaitingForReconnect(
                f"its channel {destination.channel_title} must be connected again first; it is ended then"
            )
        api = self.api_for(user_id, destination, num_retries=1)

        def life_cycle() -> str:
            answer = api.execute(
                YouTubeCall.BROADCASTS_LIST,
                api.service.liveBroadcasts().list(part="id,status", id=broadcast_id),
                cleanup=True,
            )
            found = answer.get("items") or []
            return str(found[0]["status"]["lifeCycleStatus"]) if found else "gone"

        now = life_cycle()
        if now in UNUSED_STATES:
            api.execute(
                YouTubeCall.BROADCASTS_DELETE,
                api.service.liveBroadcasts().delete(id=broadcast_id),
                cleanup=True,
            )
            return DELETED
        if now not in ON_AIR_STATES:
            return COMPLETE  # already complete (YouTube ended it), revoked, or gone
        try:
            api.execute(
                YouTubeCall.BROADCASTS_TRANSITION,
                api.service.liveBroadcasts().transition(
                    part="id,status", id=broadcast_id, broadcastStatus="complete"
                ),
                cleanup=True,
            )
        except YouTubeCallError as refused:
            # `invalidTransition` and the like: read where it stands now. Ended meanwhile: done; still on
            # its way to live (`liveStarting`): raised, and the claim is put back for the next try.
            if refused.problem.next is not Next.REREAD or life_cycle() in ON_AIR_STATES:
                raise
        return COMPLETE


def _require_channels_free(
    user_id: str, stream: Stream, destinations: list[Destination], *, consistent: bool = False
) -> None:
    """A channel's reusable liveStream takes one encoder: a second stream pushing to it while another of the
    user's streams is on air there would make both fail, so it is refused before anything is made. Once this
    stream's run is written (`consistent`), only runs begun before it count."""
    wanted = {str(d.destination_id): d for d in destinations}
    for other in active_streams(user_id, consistent=consistent):
        shared = sorted(wanted.keys() & set(other.destination_ids or []))
        earlier = not consistent or str(other.run_id) < str(stream.run_id)
        if shared and other.stream_id != stream.stream_id and earlier:
            raise InvalidState(
                f"YouTube channel {wanted[shared[0]].channel_title} is on air from your stream "
                f'"{other.title}"; a channel takes one stream from Playout at a time: stop that one first'
            )


def _missing_slots(destination: Destination) -> list[_Slot]:
    return [slot for slot in (MAIN_SLOT, SPARE_SLOT) if not getattr(destination, slot.live_stream_id)]


def broadcasts_for(youtube: YouTubeSettings, settings: Settings) -> Broadcasts:
    """What a start gives the domain (the API's and the scheduled start's Lambdas, local mode's scheduler):
    the process's Google project for these settings."""
    return Broadcasts(
        project_for(youtube, settings.app_origin), allow_loopback_ingests=settings.allow_loopback_ingests
    )


def run_items(user_id: str, stream_id: str, run_id: str) -> list[YouTubeBroadcast]:
    """The broadcasts of a run (one Query, consistent: they are read right after being written)."""
    return list(
        YouTubeBroadcast.query(
            user_pk(user_id),
            YouTubeBroadcast.sk.startswith(YouTubeBroadcast.run_prefix(stream_id, run_id)),
            consistent_read=True,
        )
    )


class WaitingForReconnect(ChannelNeedsAction):
    """No call can end a broadcast of a channel whose grant was refused, until it is connected again."""


def load_destination(user_id: str, destination_id: str) -> Destination:
    try:
        return Destination.get(user_pk(user_id), DESTINATION_PREFIX + destination_id, consistent_read=True)
    except Destination.DoesNotExist:
        raise NotFound(f"destination {destination_id} no longer exists") from None


def _move(item: YouTubeBroadcast, before: str, after: str, **values: str) -> None:
    actions: list[Action] = [YouTubeBroadcast.state.set(after), YouTubeBroadcast.updated_at.set(utcnow())]
    actions += [getattr(YouTubeBroadcast, name).set(value) for name, value in values.items()]
    item.update(actions=actions, condition=YouTubeBroadcast.state == before)


def settle(item: YouTubeBroadcast, before: str, after: str, reason: str | None) -> None:
    actions: list[Action] = [YouTubeBroadcast.state.set(after), YouTubeBroadcast.updated_at.set(utcnow())]
    if reason:
        actions.append(YouTubeBroadcast.reason.set(reason[:500]))
    try:
        item.update(actions=actions, condition=YouTubeBroadcast.state == before)
    except UpdateError as error:
        if error.cause_response_code != CONDITION_FAILED:
            raise
