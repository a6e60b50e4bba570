"""One run of a stream, start to end: claim → download → supervise ffmpeg → write the terminal status.

Exit codes (the workflow's contract): 0 when the task wrote a terminal status itself, or when the run is no
longer this task's to play; 143 when it was interrupted (SIGTERM without a stop request: Spot reclaim, host
stop) after saving its position, so the workflow's retry starts a task that resumes it."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
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
from stream_task.command import PlayItem, build_argv, ffconcat
from stream_task.playlist import positive_seconds, probe
from stream_task.progress import Item, Progress, Timeline, health
from stream_task.redact import Redactor
from stream_task.settings import TaskSettings
from stream_task.supervisor import Cause, Limits, Outcome, Supervisor

EXIT_OK = 0
EXIT_INTERRUPTED = 143  # 128 + SIGTERM, what a shell reports for a process ended by SIGTERM
INTERRUPTED = "interrupted"
PLAYING = (STARTING, LIVE)


class SetupFailed(Exception):
    """The run cannot start (media or destination gone, key undecryptable): a terminal failure."""


@dataclass(frozen=True)
class Prepared:
    concat_list: Path
    timeline: Timeline


class StreamRun:
    def __init__(self, settings: TaskSettings, logger: Logger, redactor: Redactor | None = None) -> None:
        self.settings = settings
        self.log = logger
        self.redact = redactor or Redactor()
        self.supervisor = Supervisor(
            Limits(settings.heartbeat_interval_s, settings.stale_progress_timeout_s, settings.stop_grace_s),
            on_live=self._on_live,
            on_heartbeat=self._on_heartbeat,
            redact=self.redact,
            logger=logger,
        )
        self._stream: Stream | None = None
        self._timeline = Timeline(())
        self._status: str | None = None  # as the last heartbeat found it
        self._started = time.monotonic()

    def interrupt(self) -> None:
        """SIGTERM/SIGINT: stop ffmpeg cleanly (signal-safe: it only records the wish)."""
        self.supervisor.request_stop(INTERRUPTED)

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
        start_s = self._resume_position(stream)
        duration_s = self._remaining_duration(stream)
        if duration_s is not None and duration_s <= 0:
            finish(stream, ENDED)
            return EXIT_OK
        s.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=s.scratch_dir, prefix=f"{s.stream_id}-") as scratch:
            try:
                prepared = self._prepare(stream, Path(scratch), start_s)
                urls = self._ingest_urls(stream)
            except SetupFailed as error:
                reason = self.redact(str(error))
                self.log.error("stream cannot start", extra={"reason": reason})
                finish(stream, FAILED, reason)
                return EXIT_OK
            self._timeline = prepared.timeline
            if start_s is not None:  # a resumed run: say where it really starts (a loop restarts the item)
                start_s = prepared.timeline.start_s
            argv = build_argv(
                ffmpeg=s.ffmpeg_path,
                concat_list=prepared.concat_list,
                urls=urls,
                loop=bool(stream.loop),
                duration_s=duration_s,
            )
            if start_s is not None:
                record_event(s.user_id, s.stream_id, "restarted", f"resuming at {start_s:.1f} s", s.run_id)
            self.log.info(
                "starting ffmpeg",
                extra={
                    "items": len(stream.media_ids),
                    "destinations": len(urls),
                    "start_s": start_s,
                    "duration_s": duration_s,
                    "loop": bool(stream.loop),
                },
            )
            outcome = self.supervisor.run(argv)
        return self._conclude(stream, outcome)

    def _conclude(self, stream: Stream, outcome: Outcome) -> int:
        if outcome.cause is Cause.STOPPED:
            if outcome.stop_reason == INTERRUPTED:
                return self._interrupted(stream, outcome)
            if self._status == STOPPING:
                finish(stream, ENDED)
                self.log.info("stream stopped on request")
            else:
                self.log.info(
                    "run replaced or no longer active; left as it is", extra={"status": self._status}
                )
            return EXIT_OK
        if outcome.succeeded:
            finish(stream, ENDED)
            self.log.info("playlist finished")
            return EXIT_OK
        reason = self.redact(outcome.failure_reason())
        self.log.error(
            "ffmpeg failed",
            extra={"reason": reason, "stderr_head": outcome.stderr_head, "stderr_tail": outcome.stderr_tail},
        )
        finish(stream, FAILED, reason)
        return EXIT_OK

    def _interrupted(self, stream: Stream, outcome: Outcome) -> int:
        """Saves where the stream got to, then hands over to the next task (unless a stop was asked)."""
        s = self.settings
        if outcome.last_progress is not None:
            status = heartbeat(stream, self._health(outcome.last_progress))
        else:
            claimed = claim_run(s.user_id, s.stream_id, s.run_id)
            status = None if claimed is None else str(claimed.status)
        if status == STOPPING:
            finish(stream, ENDED)
            self.log.info("stream stopped on request (SIGTERM)")
            return EXIT_OK
        if status not in ACTIVE:
            self.log.info("interrupted; the run is no longer this task's", extra={"status": status})
            return EXIT_OK
        position = self._position(outcome.last_progress)
        where = f"at {position:.1f} s" if position is not None else "before playing"
        record_event(
            s.user_id,
            s.stream_id,
            INTERRUPTED,
            f"task stopped by SIGTERM {where}; a new task resumes",
            s.run_id,
        )
        self.log.warning(
            "interrupted; exiting for the workflow to resume the run", extra={"position_s": position}
        )
        return EXIT_INTERRUPTED

    # --- setup ---

    def _prepare(self, stream: Stream, scratch: Path, resume_s: float | None) -> Prepared:
        """Downloads each media once (a playlist may repeat one), probes it and writes the ffconcat list,
        which a resumed run starts at the item it had reached."""
        s = self.settings
        s3 = aws.client("s3", s.s3_addressing_style)
        files: dict[str, tuple[PlayItem, Item]] = {}
        plays: list[PlayItem] = []
        items: list[Item] = []
        for media_id in map(str, stream.media_ids):
            if media_id not in files:
                path = scratch / f"{len(files):03d}-{media_id}"
                try:
                    media = get_media(s.user_id, media_id)
                    s3.download_file(s.media_bucket, str(media.object_key), str(path))
                except PlayoutError as error:
                    raise SetupFailed(error.message) from None
                except (ClientError, BotoCoreError) as error:
                    raise SetupFailed(f"media {media_id} could not be downloaded: {error}") from None
                probed = probe(s.ffprobe_path, path)
                outpoint = probed.outpoint_s if probed else None
                played = (probed.played_s if probed else None) or positive_seconds(media.duration_s)
                bitrate = path.stat().st_size * 8 / played / 1000 if played else None
                files[media_id] = (PlayItem(path, outpoint), Item(played, bitrate))
            play, item = files[media_id]
            plays.append(play)
            items.append(item)
        timeline = Timeline(tuple(items), bool(stream.loop))
        if resume_s and (found := timeline.seek(resume_s)) is not None:
            plays, timeline = _resumed(plays, timeline, *found)
        concat_list = scratch / "list.ffconcat"
        concat_list.write_text(ffconcat(plays))
        return Prepared(concat_list, timeline)

    def _ingest_urls(self, stream: Stream) -> list[str]:
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
            self.redact.add(ingest.stream_key)  # the URL then shows as rtmp://host/app/****
            urls.append(ingest.url)
        return urls

    @staticmethod
    def _resume_position(stream: Stream) -> float | None:
        """A run claimed while already live is resumed where the interrupted task left it."""
        if stream.status != LIVE or stream.health is None:
            return None
        return positive_seconds(stream.health.position_s)

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

    # --- supervision callbacks (on the supervisor's thread) ---

    def _uptime(self) -> float:
        stream = self._stream
        if stream is not None and stream.started_at is not None:
            return max(0.0, (utcnow() - stream.started_at).total_seconds())
        return time.monotonic() - self._started

    def _health(self, progress: Progress | None) -> dict[str, Any]:
        return health(progress, self._timeline, self._uptime())

    def _position(self, progress: Progress | None) -> float | None:
        if progress is None or progress.out_time_s is None:
            return None
        return self._timeline.locate(progress.out_time_s)[0]

    def _on_live(self, progress: Progress) -> None:
        assert self._stream is not None
        if mark_live(self._stream):
            self.log.info("live")

    def _on_heartbeat(self, progress: Progress | None) -> bool:
        assert self._stream is not None
        self._status = heartbeat(self._stream, self._health(progress))
        if self._status not in PLAYING:
            self.log.info("stopping: the run's status changed", extra={"status": self._status})
            return False
        return True


def _resumed(
    plays: list[PlayItem], timeline: Timeline, index: int, offset_s: float
) -> tuple[list[PlayItem], Timeline]:
    """The list from item `index` on. A loop keeps every item, rotated, and restarts the item it was in (an
    inpoint would cut every later round); a single pass enters the item where it stopped."""
    starts = timeline.starts() or [0.0] * len(plays)
    if timeline.loop:
        return plays[index:] + plays[:index], replace(timeline, start_s=starts[index])
    first = replace(plays[index], inpoint_s=offset_s or None)
    return [first, *plays[index + 1 :]], replace(timeline, start_s=starts[index] + offset_s)
