"""One run of a stream, start to end: claim → plan the playlist → play it (the engine) → write the end.

Exit codes (the workflow's contract, playout.workflow): 0 when the task wrote the terminal status itself,
or the run is no longer this task's to play; 143 when it was interrupted (SIGTERM without a stop request:
Spot reclaim, host stop) after saving its position, so that the workflow starts a task that resumes it;
3 when the run is over but `ended` could not be written; 4 when the stream failed for good (its reason
written if the database allowed), so that the workflow fails and the alarm fires. While playing, every
database write goes through the Reporter's thread; the writes that end a run are retried until a deadline."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import requests
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from playout import aws, health
from playout.destinations import Ingest, IngestAddress, resolve_ingest
from playout.errors import PlayoutError
from playout.media import find_media
from playout.metrics import MetricsBatch
from playout.models import Stream, StreamHealthItem, bind_table, utcnow
from playout.netguard import resolve_public
from playout.playlists import describe_ids, missing_ids
from playout.streams import ENDED, FAILED, LIVE, STOPPING, claim_run, finish, record_task
from playout.workflow import EXIT_ENDED_UNWRITTEN, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_SETTLED
from stream_task.broadcast_thumbnail import jpeg_from_webp, read_thumbnail
from stream_task.engine import Ending, Engine, EngineEvents, EngineLimits, EngineResult, Switch
from stream_task.launch import DIRECT, Launch
from stream_task.outputs import Output, OutputState
from stream_task.playlist import Cursor, Entry, Item, PlayOrder
from stream_task.probe import positive_seconds, probe
from stream_task.redact import Redactor
from stream_task.reporter import DATABASE_ERRORS, Reporter, RunIds, UsageBase, retry_write
from stream_task.settings import TaskSettings
from stream_task.staging import Stager

if TYPE_CHECKING:  # imported by the runs that have YouTube broadcasts (see StreamRun's `youtube`)
    from playout.youtube.broadcasts import Broadcasts
    from playout.youtube.rotation import RunBroadcasts
    from stream_task.broadcast_keeper import BroadcastKeeper

INTERRUPTED = "interrupted"
STOP_REQUESTED = "stop requested"
SUPERSEDED = "run superseded"
# ECS gives a stopped task 120 s (the container's stop timeout): the last writes fit well inside it.
LAST_BEAT_DEADLINE_S = 15.0
KEEPER_WAIT_S = 20.0  # at the end, for a YouTube call still in flight (a thumbnail, a rotation's part)

T = TypeVar("T")


class SetupFailed(Exception):
    """The run cannot start (media or destination gone, key undecryptable): a terminal failure."""


class _Board:
    """The engine and outputs as the broadcast keeper sees them."""

    def __init__(self, engine: Engine, outputs: dict[str, Output]) -> None:
        self._engine = engine
        self._outputs = outputs

    def request_switch(self, switch: Switch) -> None:
        self._engine.request_switch(switch)

    def pushing(self, destination_id: str) -> bool:
        output = self._outputs.get(destination_id)
        return output is not None and output.state is OutputState.LIVE


class StreamRun(EngineEvents):
    def __init__(
        self,
        settings: TaskSettings,
        logger: Logger,
        redactor: Redactor | None = None,
        youtube: Callable[[], Broadcasts] | None = None,
        launch: Launch = DIRECT,
        pusher_launch: Launch | None = None,
    ) -> None:
        self.settings = settings
        self.launch = launch  # how ffmpeg and ffprobe start: confined (stream_task.launch)
        # How the pushers start, which hold their ingest's key: under a uid apart from the readers' where
        # the task has one (stream_task.launch.pushers_apart); else as the readers.
        self.pusher_launch = pusher_launch or launch
        # Makes the client of the stream's YouTube broadcasts, which are kept while playing (thumbnails,
        # replaced, rotated: stream_task.broadcast_keeper), then ended. Called only by a run that has some:
        # Google's client libraries are a third of the task's imports (0.3-0.45 s here), before any frame.
        self._make_youtube = youtube
        self._youtube: Broadcasts | None = None
        self._keeper: BroadcastKeeper | None = None
        self._thumbnail_key: str | None = None
        self._addresses: dict[str, IngestAddress] = {}  # an ingest URL (with its key) -> where to connect
        self.log = logger
        self.redact = redactor or Redactor()
        self.ids = RunIds(settings.user_id, settings.stream_id, settings.run_id)
        self._engine: Engine | None = None
        self._stop_wish: str | None = None
        self._reporter: Reporter | None = None
        self._down_since: dict[str, float] = {}  # destination -> when it began retrying (monotonic)

    def interrupt(self) -> None:
        """SIGTERM/SIGINT: stop cleanly (signal-safe: it only records the wish)."""
        self._wish(INTERRUPTED)

    def _wish(self, reason: str) -> None:
        if self._stop_wish is None:
            self._stop_wish = reason
        if self._engine is not None:
            self._engine.request_stop(reason)

    def _on_wanted(self, wanted: str | None) -> None:
        self._wish(STOP_REQUESTED if wanted == health.WANT_STOP else SUPERSEDED)

    # --- the run ---

    def run(self) -> int:
        s = self.settings
        bind_table(s.table_name)
        claimed = self._retry(lambda: claim_run(s.user_id, s.stream_id, s.run_id), "read the stream")
        if claimed is None:
            self.log.info("run is no longer wanted; nothing to do")
            return EXIT_SETTLED
        stream: Stream = claimed
        item = self._retry(lambda: health.read(s.user_id, s.stream_id, consistent=True), "read the health")
        self._record_task(stream)
        reporter = Reporter(
            self.ids,
            stream,
            log=self.log,
            interval_s=s.heartbeat_interval_s,
            capacity=s.capacity,
            base=_usage_base(item),
            on_wanted=self._on_wanted,
            metrics=MetricsBatch(s.stage),
        )
        self._reporter = reporter
        reporter.start([str(d) for d in stream.destination_ids])
        try:
            result = self._play(stream, item, reporter)
        finally:
            reporter.close()
        return self._conclude(stream, result)

    def _play(self, stream: Stream, item: StreamHealthItem | None, reporter: Reporter) -> EngineResult:
        s = self.settings
        if stream.status == STOPPING:
            return EngineResult(Ending.STOPPED, STOP_REQUESTED)
        limit_s = self._remaining_duration(stream)
        if limit_s is not None and limit_s <= 0:
            return EngineResult(Ending.FINISHED)
        s.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=s.scratch_dir, prefix=f"{s.stream_id}-") as scratch:
            self.launch.share(Path(scratch))  # the readers read the staged media there
            stager = Stager(
                aws.client("s3", s.s3_addressing_style), s.media_bucket, Path(scratch), logger=self.log
            )
            outputs: list[Output] = []
            try:
                try:
                    order = self._plan(stream, stager)
                    run_broadcasts = self._run_broadcasts(stream)
                    current = (
                        self._retry(run_broadcasts.current, "read the YouTube broadcasts")
                        if run_broadcasts is not None
                        else {}
                    )
                    ingests = self._ingests(stream, {d: item.live_stream_id for d, item in current.items()})
                except SetupFailed as error:
                    return EngineResult(Ending.FAILED, str(error))
                if self._stop_wish is not None:
                    return EngineResult(Ending.STOPPED, self._stop_wish)
                start = _resume_cursor(stream, item)
                if start is not None:
                    where = f"pass {start.pass_index + 1}, item {start.slot + 1}, at {start.offset_s:.1f} s"
                    reporter.event("restarted", f"resuming at {where}")
                outputs = [self._output(ingest) for ingest in ingests]
                engine = Engine(
                    order.entries(start or Cursor(), limit_s),
                    source=stager.source,
                    outputs=outputs,
                    ffmpeg=s.ffmpeg_path,
                    redact=self.redact,
                    logger=self.log,
                    launch=self.launch,
                    events=self,
                    limits=EngineLimits(
                        stale_s=s.stale_progress_timeout_s,
                        handover_after_s=float(stream.handover_after_h) * 3600,
                    ),
                    not_before=_not_before(stream.scheduled_start if start is None else None),
                )
                self._engine = engine
                reporter.playing(engine, outputs)
                if run_broadcasts is not None:
                    self._keep_broadcasts(run_broadcasts, engine, outputs, reporter)
                if self._stop_wish is not None:
                    engine.request_stop(self._stop_wish)
                stager.start(order)
                self.log.info(
                    "playing",
                    extra={"items": len(order.items), "destinations": len(outputs), "limit_s": limit_s},
                )
                return engine.run()
            finally:
                if self._keeper is not None:
                    self._keeper.request_close()  # waited for before the broadcasts end
                for output in outputs:
                    output.request_close()  # all at once: each may wait up to the grace period
                for output in outputs:
                    output.close(s.stop_grace_s)
                stager.close()

    def _conclude(self, stream: Stream, result: EngineResult) -> int:
        if not (result.ending is Ending.STOPPED and result.reason == INTERRUPTED):
            self._end_broadcasts(stream)  # the run is over (played, stopped, failed, superseded)
        if result.ending is Ending.FINISHED:
            self.log.info("playlist finished")
            return self._settle(stream, ENDED)
        if result.ending is Ending.FAILED:
            reason = self.redact(result.reason or "the stream failed")
            self.log.error("stream failed", extra={"reason": reason})
            return self._settle(stream, FAILED, reason)
        if result.reason == SUPERSEDED:
            self.log.info("run replaced or no longer active; left as it is")
            return EXIT_SETTLED
        if result.reason == INTERRUPTED:
            return self._interrupted(stream, result)
        self.log.info("stream stopped on request")
        return self._settle(stream, ENDED)

    def _settle(self, stream: Stream, status: str, error: str | None = None) -> int:
        """Writes the end; exit 3 (ended) or 4 (failed) when the database would not take it in time."""
        self._last_beat()
        unwritten = EXIT_ENDED_UNWRITTEN if status == ENDED else EXIT_FAILED
        try:
            wrote = retry_write(
                lambda: finish(stream, status, error),
                what=f"write `{status}`",
                deadline_s=self.settings.final_write_deadline_s,
                log=self.log,
            )
        except DATABASE_ERRORS:
            return unwritten
        if not wrote:
            self.log.info("the run was settled elsewhere meanwhile")
            return EXIT_SETTLED
        return EXIT_SETTLED if status == ENDED else EXIT_FAILED

    def _last_beat(self) -> str | None:
        """The final position and usage; what the API wants now, or None (superseded or unwritten)."""
        if self._reporter is None:
            return None
        try:
            return self._reporter.final_beat(LAST_BEAT_DEADLINE_S)
        except DATABASE_ERRORS:
            return health.WANT_PLAY  # unknown: the workflow's resumed task reads it again

    def _interrupted(self, stream: Stream, result: EngineResult) -> int:
        """Saves where the stream got to, then hands over to the next task (unless a stop was asked)."""
        wanted = self._last_beat()
        if wanted == health.WANT_STOP:
            self.log.info("stream stopped on request (SIGTERM)")
            self._end_broadcasts(stream)
            return self._settle(stream, ENDED)
        if wanted is None:
            self.log.info("interrupted; the run is no longer this task's")
            return EXIT_SETTLED
        played = result.played
        where = f"at {played.output_s:.1f} s of output" if played is not None else "before playing"
        assert self._reporter is not None
        self._reporter.event(INTERRUPTED, f"task stopped by SIGTERM {where}; a new task resumes")
        self._reporter.flush_events()
        self.log.warning("interrupted; exiting for the workflow to resume the run")
        return EXIT_INTERRUPTED

    def _retry(self, read: Callable[[], T], what: str) -> T:
        return retry_write(read, what=what, deadline_s=self.settings.final_write_deadline_s, log=self.log)

    def _record_task(self, stream: Stream) -> None:
        arn = _ecs_task_arn()
        if arn is None:
            return  # not on ECS: the local launcher knows its own processes
        try:
            self._retry(lambda: record_task(stream, arn), "record the task")
        except DATABASE_ERRORS:
            self.log.warning("could not record the task's ARN; stop waits for the next heartbeat")

    # --- YouTube ---

    def _broadcasts(self) -> Broadcasts | None:
        if self._youtube is None and self._make_youtube is not None:
            self._youtube = self._make_youtube()
        if self._youtube is None:
            self.log.error("the stream has YouTube broadcasts but this task has no YouTube settings")
        return self._youtube

    def _run_broadcasts(self, stream: Stream) -> RunBroadcasts | None:
        if not stream.broadcasts:
            return None
        youtube = self._broadcasts()
        if youtube is None:
            return None
        from playout.youtube.rotation import RunBroadcasts  # see _make_youtube

        return RunBroadcasts(youtube, self.settings.user_id, stream)

    def _keep_broadcasts(
        self, run: RunBroadcasts, engine: Engine, outputs: list[Output], reporter: Reporter
    ) -> None:
        """The run's YouTube broadcasts kept on a thread of their own: thumbnails, polls, replacements,
        rotations through the engine's switch (nothing here waits on YouTube)."""
        s, key = self.settings, self._thumbnail_key

        def jpeg() -> bytes | None:
            if key is None:
                return None
            webp = read_thumbnail(aws.client("s3", s.s3_addressing_style), s.media_bucket, key)
            return jpeg_from_webp(s.picture_ffmpeg_path, webp, s.scratch_dir, self.launch)

        def add_ingest(ingest: Ingest) -> None:
            self.redact.add(ingest.stream_key, url=ingest.url)
            self._addresses[ingest.url] = ingest.address

        from stream_task.broadcast_keeper import BroadcastKeeper  # see _make_youtube

        self._keeper = BroadcastKeeper(
            run,
            s.lasting_policy,
            _Board(engine, {output.destination_id: output for output in outputs}),
            report=reporter.event,
            log=self.log,
            on_ingest=add_ingest,
            jpeg=jpeg,
        )
        self._keeper.start()

    def _end_broadcasts(self, stream: Stream) -> None:
        """Completes (or deletes, if it never went live) each of the run's YouTube broadcasts; best effort:
        a problem is logged and recorded as an event, and the stream still ends."""
        if not stream.broadcasts:
            return
        if self._keeper is not None:
            self._keeper.close(KEEPER_WAIT_S)
        s = self.settings
        try:
            youtube = self._broadcasts()  # built here the first time when the run never played
            if youtube is None:
                return
            problems = self._retry(
                lambda: youtube.end_broadcasts(s.user_id, s.stream_id, s.run_id), "end the YouTube broadcasts"
            )
        except Exception:
            self.log.exception("the YouTube broadcasts could not be ended")
            return
        for problem in problems:
            self.log.warning("youtube broadcast not ended", extra={"reason": problem})
            if self._reporter is not None:
                self._reporter.event("youtube", problem)
        if problems and self._reporter is not None:
            self._reporter.flush_events()

    # --- setup ---

    def _plan(self, stream: Stream, stager: Stager) -> PlayOrder:
        """Probes each distinct media once (from S3 directly: nothing waits for a download)."""
        s = self.settings
        media_ids = [str(m) for m in stream.media_ids]
        distinct = list(dict.fromkeys(media_ids))
        found = self._retry(partial(find_media, s.user_id, distinct), "read the media")  # BatchGetItem
        missing = missing_ids(distinct, found)
        if missing:
            raise SetupFailed(f"media {describe_ids(missing)} not found")
        first = found[media_ids[0]].thumbnail_key
        self._thumbnail_key = str(first) if first else None
        stager.register({media_id: str(found[media_id].object_key) for media_id in distinct})

        def item(media_id: str) -> Item:
            try:
                url = stager.url(media_id)
            except (ClientError, BotoCoreError) as error:
                raise SetupFailed(f"media {media_id} could not be read: {error}") from None
            probed = probe(s.ffprobe_path, url, launch=self.launch)
            if probed is None or not probed.has_video:
                raise SetupFailed(f"media {media_id} could not be read as a video")
            duration = positive_seconds(probed.video_s) or positive_seconds(probed.duration_s)
            if duration is None:
                raise SetupFailed(f"media {media_id} has no duration")
            return Item(media_id, duration, probed.has_audio, copy_audio=probed.audio_copyable)

        with ThreadPoolExecutor(max_workers=min(8, len(distinct))) as pool:
            items = dict(zip(distinct, pool.map(item, distinct), strict=True))
        passes = None if stream.loop else int(stream.loops) if stream.loops else 1
        return PlayOrder(
            [items[m] for m in media_ids],
            passes=passes,
            shuffle=bool(stream.shuffle),
            seed=str(stream.run_id),
        )

    def _ingests(self, stream: Stream, live_streams: dict[str, str | None]) -> list[Ingest]:
        """Each destination's ingest; a YouTube destination's is that of the liveStream its current broadcast
        is bound to (`live_streams`: the channel's main one, or its spare after a rotation)."""
        ingests = []
        for destination_id in map(str, stream.destination_ids):
            try:
                ingest = self._retry(
                    partial(
                        resolve_ingest,
                        self.settings.user_id,
                        destination_id,
                        live_streams.get(destination_id),
                    ),
                    f"read destination {destination_id}",
                )
                self._addresses[ingest.url] = ingest.address  # refuses a URL stored before today's rules
            except PlayoutError as error:
                raise SetupFailed(error.message) from None
            except ClientError as error:
                raise SetupFailed(
                    f"the stream key of destination {destination_id} could not be read: "
                    f"{error.response.get('Error', {}).get('Code', 'error')}"
                ) from None
            self.redact.add(ingest.stream_key, url=ingest.url)
            ingests.append(ingest)
        return ingests

    def _output(self, ingest: Ingest) -> Output:
        s = self.settings
        first = ingest.address

        def check_host(url: str) -> None:
            # Before every (re)connect: DNS may have changed since the last one. A rotated YouTube broadcast's
            # ingest (another URL) was added by the keeper before the engine switched to it.
            address = self._addresses.get(url, first)
            resolve_public(address.host, address.connect_port, allow_loopback=s.allow_loopback_ingests)

        return Output(
            ingest.destination_id,
            ingest.url,
            ffmpeg=s.ffmpeg_path,
            redact=self.redact,
            logger=self.log,
            on_change=self._on_output,
            check_host=check_host,
            launch=self.pusher_launch,
            retry_window_s=s.destination_retry_window_s,
        )

    @staticmethod
    def _remaining_duration(stream: Stream) -> float | None:
        if not stream.duration_s:
            return None
        elapsed = (utcnow() - stream.started_at).total_seconds() if stream.started_at else 0.0
        return (
            float(stream.duration_s) - max(0.0, elapsed)
            if stream.status == LIVE
            else float(stream.duration_s)
        )

    # --- what the engine tells (on the engine's thread: nothing here waits on the database) ---

    def on_air(self) -> None:
        assert self._reporter is not None
        self._reporter.on_air()

    def on_restart(self, entry: Entry, reason: str, gap_s: float) -> None:
        assert self._reporter is not None
        item, cause = entry.cursor.slot + 1, self.redact(reason)
        self._reporter.event("restarted", f"reader restarted in item {item} ({cause}); gap {gap_s:.1f} s")

    def on_handover(self, entry: Entry, at_boundary: bool) -> None:
        assert self._reporter is not None
        self._reporter.event(
            "handover", f"new ingest connections (item {entry.cursor.slot + 1}, {_where(at_boundary)})"
        )

    def on_switch(self, entry: Entry, switch: Switch) -> None:
        assert self._reporter is not None
        self._reporter.event(
            "handover",
            f"destinations {', '.join(sorted(switch.urls))} moved to their next YouTube broadcast's ingest "
            f"(item {entry.cursor.slot + 1}, {_where(switch.at_boundary)})",
        )
        if self._keeper is not None:
            self._keeper.wake()

    def _on_output(
        self, output: Output, previous: OutputState, state: OutputState, reason: str | None
    ) -> None:
        if state is OutputState.STOPPED or (previous is OutputState.CONNECTING and state is OutputState.LIVE):
            return
        now = time.monotonic()
        if state is OutputState.RETRYING:
            self._down_since.setdefault(output.destination_id, now)
        text = f"destination {output.destination_id} is {state.value}"
        if state is OutputState.LIVE and output.destination_id in self._down_since:
            text += f" again after {now - self._down_since.pop(output.destination_id):.1f} s"
        if reason:
            text += f": {self.redact(reason)}"
        if self._reporter is not None:
            self._reporter.event(f"destination_{state.value}", text)


def _usage_base(item: StreamHealthItem | None) -> UsageBase:
    if item is None:
        return UsageBase()
    return UsageBase(
        spot_s=float(item.spot_s or 0),
        on_demand_s=float(item.on_demand_s or 0),
        bytes_sent=[int(d.bytes_sent or 0) for d in item.destinations or []],
    )


def _resume_cursor(stream: Stream, item: StreamHealthItem | None) -> Cursor | None:
    """A run claimed while already live is resumed where the interrupted task of the same run left it."""
    if stream.status != LIVE or item is None or item.run_id != stream.run_id:
        return None
    if item.pass_index is None or item.slot is None:
        return None
    offset = positive_seconds(item.item_offset_s) or 0.0
    return Cursor(int(item.pass_index), int(item.slot), offset)


def _not_before(scheduled_start: datetime | None) -> float | None:
    """The monotonic time of the scheduled start: the task starts early (pre-warm), holds the first frame."""
    if scheduled_start is None:
        return None
    wait_s = (scheduled_start - utcnow()).total_seconds()
    return time.monotonic() + wait_s if wait_s > 0 else None


def _ecs_task_arn() -> str | None:
    uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if not uri:
        return None
    try:
        response = requests.get(f"{uri}/task", timeout=2)
        response.raise_for_status()
        return str(response.json()["TaskARN"])
    except (requests.RequestException, ValueError, KeyError):
        return None


def _where(at_boundary: bool) -> str:
    return "at an item boundary" if at_boundary else "at a keyframe inside the item"
