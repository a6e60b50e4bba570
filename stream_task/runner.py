"""One run of a stream, start to end: claim → plan the playlist → play it (the engine) → write the end.

Exit codes (the workflow's contract, see playout.workflow): 0 when the task wrote a terminal status
itself, or the run is no longer this task's to play; 143 when it was interrupted (SIGTERM without a stop
request: Spot reclaim, host stop) after saving its position, so that the workflow starts a task that
resumes it; 4 when the stream failed for good (its reason written), so that the workflow fails and the
alarm fires."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from playout import aws
from playout.destinations import resolve_ingest
from playout.errors import PlayoutError
from playout.media import get_media
from playout.models import Stream, bind_table, utcnow
from playout.streams import (
    ACTIVE,
    ENDED,
    FAILED,
    LIVE,
    STARTING,
    STOPPING,
    claim_run,
    finish,
    heartbeat,
    mark_live,
    record_event,
)
from stream_task.engine import Ending, Engine, EngineEvents, EngineLimits, EngineResult, Played
from stream_task.outputs import Output, OutputState
from stream_task.playlist import Cursor, Entry, Item, PlayOrder
from stream_task.probe import positive_seconds, probe
from stream_task.redact import Redactor
from stream_task.settings import TaskSettings
from stream_task.staging import Stager

EXIT_OK = 0
EXIT_FAILED = 4
EXIT_INTERRUPTED = 143  # 128 + SIGTERM, what a shell reports for a process ended by SIGTERM
INTERRUPTED = "interrupted"
PLAYING = (STARTING, LIVE)


class SetupFailed(Exception):
    """The run cannot start (media or destination gone, key undecryptable): a terminal failure."""


class StreamRun(EngineEvents):
    def __init__(self, settings: TaskSettings, logger: Logger, redactor: Redactor | None = None) -> None:
        self.settings = settings
        self.log = logger
        self.redact = redactor or Redactor()
        self._stream: Stream | None = None
        self._engine: Engine | None = None
        self._stop_wish: str | None = None
        self._status: str | None = None
        self._started = time.monotonic()
        self._next_beat = 0.0
        self._order: PlayOrder | None = None
        self._outputs: list[Output] = []

    def interrupt(self) -> None:
        """SIGTERM/SIGINT: stop cleanly (signal-safe: it only records the wish)."""
        self._stop_wish = INTERRUPTED
        if self._engine is not None:
            self._engine.request_stop(INTERRUPTED)

    # --- the run ---

    def run(self) -> int:
        s = self.settings
        bind_table(s.table_name)
        stream = claim_run(s.user_id, s.stream_id, s.run_id)
        if stream is None:
            self.log.info("run is no longer wanted; nothing to do")
            return EXIT_OK
        self._stream = stream
        if stream.status == STOPPING:
            self.log.info("stop requested before the task started")
            finish(stream, ENDED)
            return EXIT_OK
        limit_s = self._remaining_duration(stream)
        if limit_s is not None and limit_s <= 0:
            finish(stream, ENDED)
            return EXIT_OK
        s.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=s.scratch_dir, prefix=f"{s.stream_id}-") as scratch:
            stager = Stager(
                aws.client("s3", s.s3_addressing_style), s.media_bucket, Path(scratch), logger=self.log
            )
            try:
                order = self._plan(stream, stager)
                urls = self._ingest_urls(stream)
            except SetupFailed as error:
                stager.close()
                return self._fail(stream, self.redact(str(error)))
            if self._stop_wish is not None:
                stager.close()
                return self._conclude(stream, EngineResult(Ending.STOPPED, self._stop_wish))
            self._order = order
            start = self._resume_cursor(stream)
            if start is not None:
                where = f"pass {start.pass_index + 1}, item {start.slot + 1}, at {start.offset_s:.1f} s"
                record_event(s.user_id, s.stream_id, "restarted", f"resuming at {where}", s.run_id)
            self._outputs = [
                Output(
                    destination_id,
                    url,
                    ffmpeg=s.ffmpeg_path,
                    redact=self.redact,
                    logger=self.log,
                    on_change=self._on_output,
                    retry_window_s=s.destination_retry_window_s,
                )
                for destination_id, url in urls
            ]
            engine = Engine(
                order.entries(start or Cursor(), limit_s),
                source=stager.source,
                outputs=self._outputs,
                ffmpeg=s.ffmpeg_path,
                redact=self.redact,
                logger=self.log,
                events=self,
                limits=EngineLimits(
                    stale_s=s.stale_progress_timeout_s,
                    handover_after_s=float(stream.handover_after_h) * 3600,
                ),
            )
            self._engine = engine
            if self._stop_wish is not None:
                engine.request_stop(self._stop_wish)
            stager.start(order)
            self.log.info(
                "playing",
                extra={"items": len(order.items), "destinations": len(urls), "limit_s": limit_s},
            )
            try:
                result = engine.run()
            finally:
                for output in self._outputs:
                    output.close(s.stop_grace_s)
                stager.close()
        return self._conclude(stream, result)

    def _conclude(self, stream: Stream, result: EngineResult) -> int:
        if result.ending is Ending.FINISHED:
            finish(stream, ENDED)
            self.log.info("playlist finished")
            return EXIT_OK
        if result.ending is Ending.FAILED:
            return self._fail(stream, self.redact(result.reason or "the stream failed"))
        if result.reason == INTERRUPTED:
            return self._interrupted(stream, result.played)
        if self._status == STOPPING or result.reason == "stop requested":
            finish(stream, ENDED)
            self.log.info("stream stopped on request")
            return EXIT_OK
        self.log.info("run replaced or no longer active; left as it is", extra={"status": self._status})
        return EXIT_OK

    def _fail(self, stream: Stream, reason: str) -> int:
        self.log.error("stream failed", extra={"reason": reason})
        finish(stream, FAILED, reason)
        return EXIT_FAILED

    def _interrupted(self, stream: Stream, played: Played | None) -> int:
        """Saves where the stream got to, then hands over to the next task (unless a stop was asked)."""
        s = self.settings
        status = self._beat(played, force=True)
        if status is None:
            claimed = claim_run(s.user_id, s.stream_id, s.run_id)
            status = None if claimed is None else str(claimed.status)
        if status == STOPPING:
            finish(stream, ENDED)
            self.log.info("stream stopped on request (SIGTERM)")
            return EXIT_OK
        if status not in ACTIVE:
            self.log.info("interrupted; the run is no longer this task's", extra={"status": status})
            return EXIT_OK
        where = f"at {played.output_s:.1f} s of output" if played is not None else "before playing"
        record_event(
            s.user_id,
            s.stream_id,
            INTERRUPTED,
            f"task stopped by SIGTERM {where}; a new task resumes",
            s.run_id,
        )
        self.log.warning("interrupted; exiting for the workflow to resume the run")
        return EXIT_INTERRUPTED

    # --- setup ---

    def _plan(self, stream: Stream, stager: Stager) -> PlayOrder:
        """Probes each distinct media once (from S3 directly: nothing waits for a download)."""
        s = self.settings
        media_ids = [str(m) for m in stream.media_ids]
        distinct = list(dict.fromkeys(media_ids))
        try:
            objects = {media_id: str(get_media(s.user_id, media_id).object_key) for media_id in distinct}
        except PlayoutError as error:
            raise SetupFailed(error.message) from None
        stager.register(objects)

        def item(media_id: str) -> Item:
            try:
                url = stager.url(media_id)
            except (ClientError, BotoCoreError) as error:
                raise SetupFailed(f"media {media_id} could not be read: {error}") from None
            probed = probe(s.ffprobe_path, url)
            if probed is None or not probed.has_video:
                raise SetupFailed(f"media {media_id} could not be read as a video")
            duration = positive_seconds(probed.video_s) or positive_seconds(probed.duration_s)
            if duration is None:
                raise SetupFailed(f"media {media_id} has no duration")
            return Item(media_id, duration, probed.has_audio)

        with ThreadPoolExecutor(max_workers=min(8, len(distinct))) as pool:
            items = dict(zip(distinct, pool.map(item, distinct), strict=True))
        passes = None if stream.loop else int(stream.loops) if stream.loops else 1
        return PlayOrder(
            [items[m] for m in media_ids],
            passes=passes,
            shuffle=bool(stream.shuffle),
            seed=str(stream.run_id),
        )

    def _ingest_urls(self, stream: Stream) -> list[tuple[str, str]]:
        urls = []
        for destination_id in map(str, stream.destination_ids):
            try:
                ingest = resolve_ingest(self.settings.user_id, destination_id)
            except PlayoutError as error:
                raise SetupFailed(error.message) from None
            except ClientError as error:
                raise SetupFailed(
                    f"the stream key of destination {destination_id} could not be read: "
                    f"{error.response.get('Error', {}).get('Code', 'error')}"
                ) from None
            self.redact.add(ingest.stream_key)
            urls.append((destination_id, ingest.url))
        return urls

    def _resume_cursor(self, stream: Stream) -> Cursor | None:
        """A run claimed while already live is resumed where the interrupted task left it."""
        health = stream.health
        if stream.status != LIVE or health is None:
            return None
        pass_index = getattr(health, "pass_index", None)
        slot = getattr(health, "slot", None)
        offset = positive_seconds(getattr(health, "item_offset_s", None)) or 0.0
        if pass_index is None or slot is None:
            return None
        return Cursor(int(pass_index), int(slot), offset)

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

    # --- what the engine tells (on the engine's thread) ---

    def on_air(self) -> None:
        assert self._stream is not None
        if mark_live(self._stream):
            self.log.info("live")

    def on_restart(self, entry: Entry, reason: str, gap_s: float) -> None:
        s = self.settings
        message = (
            f"reader restarted in item {entry.cursor.slot + 1} ({self.redact(reason)}); gap {gap_s:.1f} s"
        )
        record_event(s.user_id, s.stream_id, "restarted", message, s.run_id)

    def on_handover(self, entry: Entry) -> None:
        s = self.settings
        record_event(
            s.user_id, s.stream_id, "handover", "new ingest connections at an item boundary", s.run_id
        )

    def on_tick(self, played: Played | None) -> None:
        status = self._beat(played)
        if status is not None and status not in PLAYING and self._engine is not None:
            self._engine.request_stop("stop requested" if status == STOPPING else "run no longer active")

    def _on_output(
        self, output: Output, previous: OutputState, state: OutputState, reason: str | None
    ) -> None:
        s = self.settings
        if state is OutputState.STOPPED or (previous is OutputState.CONNECTING and state is OutputState.LIVE):
            return
        text = f"destination {output.destination_id} is {state.value}"
        if reason:
            text += f": {self.redact(reason)}"
        try:
            record_event(s.user_id, s.stream_id, f"destination_{state.value}", text[:900], s.run_id)
        except (ClientError, BotoCoreError):
            self.log.exception("could not record a destination event")

    def _beat(self, played: Played | None, force: bool = False) -> str | None:
        now = time.monotonic()
        if not force and now < self._next_beat:
            return None
        self._next_beat = now + self.settings.heartbeat_interval_s
        assert self._stream is not None
        self._status = heartbeat(self._stream, self._health(played))
        return self._status

    def _health(self, played: Played | None) -> dict[str, Any]:
        stream = self._stream
        uptime = (
            (utcnow() - stream.started_at).total_seconds()
            if stream is not None and stream.started_at is not None
            else time.monotonic() - self._started
        )
        values: dict[str, Any] = {"uptime_s": round(max(0.0, uptime), 1)}
        if played is not None:
            values |= {
                "position_s": round(played.output_s, 3),
                "item_index": played.entry.item_index,
                "pass_index": played.entry.cursor.pass_index,
                "slot": played.entry.cursor.slot,
                "item_offset_s": round(played.item_offset_s, 3),
            }
        live = [o.stats() for o in self._outputs]
        if live:
            values["bytes_sent"] = sum(stat.bytes_sent for stat in live)
        return values
