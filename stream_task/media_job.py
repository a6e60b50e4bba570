"""`python -m stream_task.media_job`: turn one stored (or linked) file into playable media, in the stream
task's image, configured by the environment (MEDIA_ID, USER_ID, JOB_ID: ids only).

import (if `importing`) → download the original once to the scratch disk → facts (ffprobe) → WebP thumbnail
→ ready if stream-ready, else conforming with progress → conformed mp4 uploaded → ready. A file that cannot
become a stream ends `failed` with its reason. Exit codes are the stream task's (playout.workflow): 0 when
the media's fate is written (ready, failed, or no longer this job's), 143 on SIGTERM (a new task starts
over), anything else is a crash the workflow retries.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from aws_lambda_powertools import Logger
from boto3.s3.transfer import TransferConfig
from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from playout import aws, importer
from playout import media as library
from playout.errors import NotFound, PlayoutError
from playout.media_jobs import Facts, JobSuperseded, MediaJobSteps, ProgressWriter
from playout.models import PROFILE_SK, Media, UserProfile, bind_table
from playout.resources import IMMUTABLE_CACHE_CONTROL
from playout.settings import GIB
from playout.workflow import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_MISCONFIGURED, EXIT_SETTLED
from stream_task.conform import ConformFailed, conform
from stream_task.launch import DIRECT, Launch, confined
from stream_task.media_facts import MediaFacts, MediaRejected, read_media_facts
from stream_task.picture import write_thumbnail

EXIT_CRASHED = 1
_NO_SPACE = "No space left on device"  # ffmpeg's words for ENOSPC
_TRANSFER = TransferConfig(max_concurrency=4)


def _knob(name: str, **kwargs: Any) -> Any:
    return Field(validation_alias=AliasChoices(name, f"STREAM_TASK_{name}", name.lower()), **kwargs)


class MediaJobSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    media_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    job_id: str = Field(min_length=1)
    table_name: str = Field(min_length=3)
    media_bucket: str = Field(min_length=3)
    storage_quota_bytes: int = Field(default=50 * GIB, gt=0)
    # Its own name: the stream task's scratch (STREAM_TASK_SCRATCH_DIR) is sized for staging, not for a 50 GB
    # original and its conformed copy.
    media_job_scratch_dir: Path = Field(
        validation_alias=AliasChoices("MEDIA_JOB_SCRATCH_DIR", "media_job_scratch_dir"),
        default_factory=lambda: Path(tempfile.gettempdir()),
    )
    # The image's full ffmpeg (libx264, libwebp, zscale), not FFMPEG_PATH: the stream engine's lean build.
    conform_ffmpeg_path: str = _knob("CONFORM_FFMPEG_PATH", default="ffmpeg")
    ffprobe_path: str = _knob("FFPROBE_PATH", default="ffprobe")
    s3_addressing_style: str = _knob("S3_ADDRESSING_STYLE", default="auto", pattern="^(virtual|path|auto)$")
    # ffmpeg and ffprobe run as this user when the task can switch (stream_task.launch): root, or through
    # FFMPEG_LAUNCHER (the image's setpriv with cap_setuid/cap_setgid).
    ffmpeg_user: str = _knob("FFMPEG_USER", default="nobody")
    ffmpeg_launcher: str | None = _knob("FFMPEG_LAUNCHER", default=None)
    # Local mode's tests serve the files they import from this machine; AWS never sets it.
    allow_loopback_imports: bool = _knob("ALLOW_LOOPBACK_IMPORTS", default=False)
    progress_interval_s: float = _knob("PROGRESS_INTERVAL_S", default=5.0, ge=1.0)


class Interrupted(BaseException):
    """SIGTERM (a Spot reclaim, a stop): leave now; the workflow starts the job over."""


class MediaJob:
    def __init__(self, settings: MediaJobSettings, log: Logger, launch: Launch = DIRECT) -> None:
        self.settings = settings
        self.log = log
        self.launch = launch  # how ffmpeg and ffprobe start: confined (stream_task.launch)
        self.s3 = aws.client("s3", settings.s3_addressing_style)
        self.steps = MediaJobSteps(self.s3, settings.media_bucket, settings.storage_quota_bytes)

    def run(self) -> int:
        s = self.settings
        try:
            media = self.steps.load(s.user_id, s.media_id, s.job_id)
        except JobSuperseded as why:
            self.log.info("nothing to do", extra={"why": str(why)})
            return EXIT_SETTLED
        if media.status == library.READY:
            self.steps.clean_after_ready(media)
            return EXIT_SETTLED
        if media.status not in library.IN_JOB:
            return EXIT_SETTLED
        scratch = Path(tempfile.mkdtemp(prefix=f"{s.media_id}-", dir=s.media_job_scratch_dir))
        try:
            self.launch.share(scratch)
            return self._process(media, scratch)
        except JobSuperseded as why:
            self.log.info("the media is no longer this job's", extra={"why": str(why)})
            self._clean_after_delete()
            return EXIT_SETTLED
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _clean_after_delete(self) -> None:
        """The owner deleted the media while the job ran: what the job stored after the delete goes too."""
        s = self.settings
        try:
            library.get_media(s.user_id, s.media_id, consistent=True)
        except NotFound:
            keys = [
                library.object_key(s.user_id, s.media_id),
                library.conformed_key(s.user_id, s.media_id),
                library.thumbnail_key(s.user_id, s.media_id),
            ]
            library.delete_objects(self.s3, s.media_bucket, keys)

    def _process(self, media: Media, scratch: Path) -> int:
        try:
            if media.status == library.IMPORTING:
                media = self._import(media)
            source = scratch / "source"
            self.s3.download_file(
                self.settings.media_bucket, str(media.object_key), str(source), Config=_TRANSFER
            )
            facts = read_media_facts(
                self.settings.ffprobe_path, self.settings.conform_ffmpeg_path, source, self.launch
            )
            if media.status == library.PROBING:
                media = self._record_facts(media, facts, source, scratch)
                if facts.stream_ready:
                    self.steps.finish_ready(
                        media, str(media.object_key), int(media.size_bytes), played_s=played_s(facts)
                    )
                    self.log.info("ready as it is")
                    return EXIT_SETTLED
                self.log.info("conforming", extra={"because": list(facts.not_stream_ready_because)})
                media = self.steps.mark_conforming(media)
            return self._conform(media, facts, source, scratch)
        except MediaRejected as rejected:
            return self._fail(media, rejected.reason)
        except ConformFailed as failed:
            if _NO_SPACE in failed.reason:
                return self._fail(media, self._disk_full_reason(), keep_original=True)
            return self._fail(media, failed.reason)
        except PlayoutError as refused:  # the link (InvalidInput, ImportFailed) or the quota
            return self._fail(media, refused.message)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            # Not a crash to retry: the same file fills the same disk again.
            return self._fail(media, self._disk_full_reason(), keep_original=True)

    def _disk_full_reason(self) -> str:
        total = shutil.disk_usage(self.settings.media_job_scratch_dir).total
        return (
            f"the file and its conformed copy do not fit on the job's {total / GIB:.0f} GiB disk; "
            "the original is kept"
        )

    def _import(self, media: Media) -> Media:
        s = self.settings
        used = int(media.counted_bytes)
        room = max(s.storage_quota_bytes - _storage_used(media) + used, 0)
        progress = ProgressWriter(media, library.IMPORTING, s.progress_interval_s)
        imported = importer.import_url(
            str(media.source_url),
            s3=self.s3,
            bucket=s.media_bucket,
            key=str(media.object_key),
            byte_limit=room,
            allow_loopback=s.allow_loopback_imports,
            on_progress=lambda received, total: progress(100 * received / total) if total else None,
            object_args={"CacheControl": IMMUTABLE_CACHE_CONTROL},
        )
        self.log.info("imported", extra={"size_bytes": imported.size_bytes})
        return self.steps.record_imported(
            media, imported.size_bytes, imported.content_type, _filename(imported.final_url, media)
        )

    def _record_facts(self, media: Media, facts: MediaFacts, source: Path, scratch: Path) -> Media:
        s = self.settings
        key = library.thumbnail_key(s.user_id, s.media_id)
        thumbnail = write_thumbnail(
            s.conform_ffmpeg_path,
            source,
            facts,
            scratch / "thumbnail.webp",
            scratch,
            _title(media),
            self.launch,
        )
        self.s3.upload_file(
            str(thumbnail),
            s.media_bucket,
            key,
            ExtraArgs={"ContentType": "image/webp", "CacheControl": IMMUTABLE_CACHE_CONTROL},
        )
        return self.steps.record_facts(media, _stored_facts(facts), key, thumbnail.stat().st_size)

    def _conform(self, media: Media, facts: MediaFacts, source: Path, scratch: Path) -> int:
        s = self.settings
        out = scratch / "conformed.mp4"
        progress = ProgressWriter(media, library.CONFORMING, s.progress_interval_s)
        result = conform(
            s.conform_ffmpeg_path,
            s.ffprobe_path,
            source,
            out,
            facts=facts,
            title=_title(media),
            on_progress=progress,
            launch=self.launch,
        )
        self.log.info(
            "conformed",
            extra={
                "crf": result.crf,
                "ssim": result.ssim,
                "bitrate_bps": result.bitrate_bps,
                "s": result.elapsed_s,
            },
        )
        key = library.conformed_key(s.user_id, s.media_id)
        self.s3.upload_file(
            str(out),
            s.media_bucket,
            key,
            ExtraArgs={"ContentType": "video/mp4", "CacheControl": IMMUTABLE_CACHE_CONTROL},
            Config=_TRANSFER,
        )
        self.steps.finish_ready(media, key, out.stat().st_size, played_s=played_s(result.output))
        return EXIT_SETTLED

    def _fail(self, media: Media, reason: str, *, keep_original: bool | None = None) -> int:
        self.log.info("failed", extra={"reason": reason})
        try:
            self.steps.fail(media, reason, keep_original=keep_original)
        except JobSuperseded:
            raise
        except Exception:  # the database: the workflow's own write is the fallback
            self.log.exception("could not record the failure")
            return EXIT_FAILED  # the workflow writes it
        return EXIT_SETTLED


def _storage_used(media: Media) -> int:
    try:
        profile = UserProfile.get(media.pk, PROFILE_SK, consistent_read=True)
    except UserProfile.DoesNotExist:
        return 0
    return int(profile.storage_used_bytes or 0)


def _stored_facts(facts: MediaFacts) -> Facts:
    video = facts.video
    audio = facts.audio
    return Facts(
        duration_s=facts.duration_s,
        container=facts.container,
        bitrate_bps=facts.bitrate_bps,
        stream_ready=facts.stream_ready,
        video=None
        if video is None
        else {
            "codec": video.codec,
            "width": video.display_width,
            "height": video.display_height,
            "fps": round(video.fps, 3) if video.fps else None,
        },
        audio=None
        if audio is None
        else {"codec": audio.codec, "sample_rate": audio.sample_rate, "channels": audio.channels},
        not_stream_ready_because=facts.not_stream_ready_because,
    )


def played_s(facts: MediaFacts) -> float:
    """How long a stream plays the file: its picture's length, as the stream task times an item
    (stream_task.runner), else the file's."""
    return facts.timing.video_s or facts.duration_s


def _title(media: Media) -> str:
    return Path(str(media.filename)).stem or "Untitled"


def _filename(final_url: str, media: Media) -> str:
    name = final_url.rstrip("/").rsplit("/", 1)[-1]
    return name[:200] or str(media.filename)


def main() -> int:
    log = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "media_job"))
    try:
        settings = MediaJobSettings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as error:
        log.error(
            "invalid environment", extra={"errors": error.errors(include_url=False, include_input=False)}
        )
        return EXIT_MISCONFIGURED
    log.append_keys(media_id=settings.media_id, job_id=settings.job_id)
    bind_table(settings.table_name)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        raise Interrupted

    signal.signal(signal.SIGTERM, on_signal)
    try:
        launch = confined(settings.ffmpeg_user, settings.ffmpeg_launcher, log)
        return MediaJob(settings, log, launch).run()
    except Interrupted:
        log.info("interrupted: the workflow starts the job over")
        return EXIT_INTERRUPTED
    except Exception:
        log.exception("media job crashed")
        return EXIT_CRASHED


if __name__ == "__main__":
    sys.exit(main())
