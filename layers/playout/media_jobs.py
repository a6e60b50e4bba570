"""What a media job writes on its media item, step by step: imported, facts, conforming (progress), ready or
failed.

Every write is conditional on the item still being in the status the step moves on from and on the job's
id, so a retried job (the same id, after a crash or a Spot reclaim) finds a step already done instead of
doing it twice, and a job whose media was deleted or taken over stops (`JobSuperseded`). Byte counts move
through playout.storage in the same transaction as the status.

Storage: once the conformed copy is complete it becomes the playable object and the original is deleted
(conform once, copy forever: the original is never read again). The media then holds, and `stored_bytes`
says, the conformed copy plus its thumbnail. A conform that fails keeps the original (and its count).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import UpdateError

from playout import media as library
from playout import storage
from playout.errors import NotFound
from playout.models import AudioInfo, Media, VideoInfo

PROGRESS_INTERVAL_S = 5.0  # at most one progress write per media this often


class JobSuperseded(Exception):
    """The media is gone, or no longer this job's to write (deleted, failed, or done by an earlier try)."""


@dataclass(frozen=True)
class Facts:
    """What the job measured, as stored on the media (playout knows nothing of ffprobe)."""

    duration_s: float
    container: str
    bitrate_bps: int | None
    stream_ready: bool
    video: dict[str, Any] | None  # codec, width, height, fps
    audio: dict[str, Any] | None  # codec, sample_rate, channels
    not_stream_ready_because: tuple[str, ...] = ()


@dataclass(frozen=True)
class MediaJobSteps:
    """The job's writes, with what they need passed in by the job (its own settings, not the API's)."""

    s3: Any
    bucket: str
    quota_bytes: int

    def load(self, user_id: str, media_id: str, job_id: str) -> Media:
        """The media, read consistently; JobSuperseded if it is gone or belongs to another job."""
        try:
            media = library.get_media(user_id, media_id, consistent=True)
        except NotFound:
            raise JobSuperseded(f"media {media_id} was deleted") from None
        if media.job_id != job_id:
            raise JobSuperseded(f"media {media_id} belongs to job {media.job_id}, not {job_id}")
        return media

    @staticmethod
    def _this_job(media: Media) -> Any:
        return Media.job_id == media.job_id

    def record_imported(self, media: Media, size_bytes: int, content_type: str, filename: str) -> Media:
        """importing → probing, holding the bytes S3 stored; QuotaExceeded if they no longer fit."""
        _expect(media, library.IMPORTING)
        try:
            storage.settle(
                media,
                size_bytes,
                self.quota_bytes,
                [
                    Media.status.set(library.PROBING),
                    Media.size_bytes.set(size_bytes),
                    Media.content_type.set(content_type),
                    Media.filename.set(filename),
                    Media.progress_pct.remove(),
                ],
                condition=self._this_job(media),
                profile_actions=library.leaving_imports(media),
            )
        except storage.Conflict:
            raise JobSuperseded(f"media {media.media_id} changed while importing") from None
        media.status, media.size_bytes, media.counted_bytes = library.PROBING, size_bytes, size_bytes
        return media

    def record_facts(
        self, media: Media, facts: Facts, thumbnail_key: str | None, thumbnail_bytes: int
    ) -> Media:
        """Stores the facts and the thumbnail (its bytes counted with the media's) while `probing`."""
        _expect(media, library.PROBING)
        actions = [
            Media.duration_s.set(round(facts.duration_s, 3)),
            Media.container.set(facts.container),
            Media.stream_ready.set(facts.stream_ready),
            Media.video.set(VideoInfo(**facts.video)) if facts.video else Media.video.remove(),
            Media.audio.set(AudioInfo(**facts.audio)) if facts.audio else Media.audio.remove(),
            Media.bitrate_bps.set(facts.bitrate_bps) if facts.bitrate_bps else Media.bitrate_bps.remove(),
        ]
        if thumbnail_key:
            actions.append(Media.thumbnail_key.set(thumbnail_key))
        stored = int(media.size_bytes) + thumbnail_bytes
        self._settle(media, stored, actions, library.PROBING)
        media.refresh(consistent_read=True)
        return media

    def mark_conforming(self, media: Media) -> Media:
        """probing → conforming at 0 %."""
        _expect(media, library.PROBING)
        self._settle(media, int(media.counted_bytes), [Media.progress_pct.set(0)], library.CONFORMING)
        media.status, media.progress_pct = library.CONFORMING, 0
        return media

    def finish_ready(
        self, media: Media, playable_key: str, playable_bytes: int, *, played_s: float | None = None
    ) -> Media:
        """probing or conforming → ready, playing `playable_key`; the original is deleted once the item
        points at its conformed copy. `played_s`, the length a stream plays of it (its picture's), becomes
        the media's duration: a conformed copy's sound is cut to its picture, so it can be shorter than the
        original's. playout.errors.QuotaExceeded if the copy no longer fits the quota."""
        _expect(media, library.PROBING, library.CONFORMING)
        thumbnail_bytes = int(media.counted_bytes) - int(media.size_bytes)
        original = str(media.object_key)
        actions = [Media.object_key.set(playable_key), Media.progress_pct.remove(), Media.error.remove()]
        if played_s:
            actions.append(Media.duration_s.set(round(played_s, 3)))
        self._settle(media, playable_bytes + thumbnail_bytes, actions, library.READY)
        if original != playable_key:
            library.delete_objects(self.s3, self.bucket, [original])
        media.refresh(consistent_read=True)
        return media

    def fail(self, media: Media, reason: str, *, keep_original: bool | None = None) -> None:
        """→ failed with `reason`. A file that is media but could not be conformed (it was `conforming`, or
        `keep_original`) keeps its original and thumbnail, still counted, for its owner to delete or use
        elsewhere; anything else (not media, unreadable, over quota) loses every object and byte."""
        _expect(media, *library.IN_JOB)
        keep = media.status == library.CONFORMING if keep_original is None else keep_original
        keep = keep and media.status != library.IMPORTING  # an import stored nothing whole yet
        failed = [
            Media.status.set(library.FAILED),
            Media.error.set(reason[:500]),
            Media.progress_pct.remove(),
        ]
        user_id, media_id = str(media.pk).removeprefix("USER#"), str(media.media_id)
        if keep:
            self._settle(media, int(media.counted_bytes), failed[1:], library.FAILED)
            uncounted = [library.conformed_key(user_id, media_id)]
            if not media.thumbnail_key:
                uncounted.append(library.thumbnail_key(user_id, media_id))
            library.delete_objects(self.s3, self.bucket, uncounted)
            return
        try:
            storage.release(
                media, failed, condition=self._this_job(media), profile_actions=library.leaving_imports(media)
            )
        except storage.Conflict:
            raise JobSuperseded(f"media {media.media_id} changed before it could fail") from None
        library.delete_objects(self.s3, self.bucket, library.stored_keys(media))

    def fail_if_unfinished(self, user_id: str, media_id: str, job_id: str, reason: str) -> bool:
        """What the workflow does when the job ended without a verdict (crashes, retries exhausted): fails the
        media if this job still holds it. True if it did."""
        with contextlib.suppress(JobSuperseded):
            media = self.load(user_id, media_id, job_id)
            if media.status in library.IN_JOB:
                self.fail(media, reason)
                return True
        return False

    def clean_after_ready(self, media: Media) -> None:
        """A retried job that finds its media ready: delete the original if a crash came between the write
        that switched to the conformed copy and the original's deletion."""
        original = library.object_key(str(media.pk).removeprefix("USER#"), str(media.media_id))
        if media.object_key != original:
            library.delete_objects(self.s3, self.bucket, [original])

    def _settle(self, media: Media, stored_bytes: int, actions: list[Any], status: str) -> None:
        try:
            storage.settle(
                media,
                stored_bytes,
                self.quota_bytes,
                [*actions, Media.status.set(status)],
                condition=self._this_job(media),
            )
        except storage.Conflict:
            raise JobSuperseded(f"media {media.media_id} changed") from None


@dataclass
class ProgressWriter:
    """Writes the media's progress_pct at most once per `interval_s` (the last value is never more than that
    stale); only while the media is `status` for this job."""

    media: Media
    status: str
    interval_s: float = PROGRESS_INTERVAL_S
    clock: Callable[[], float] = time.monotonic
    _last_write: float | None = field(default=None, init=False)
    _last_pct: int = field(default=-1, init=False)

    def __call__(self, pct: float) -> None:
        whole = max(0, min(int(pct), 99))  # 100 only with ready
        now = self.clock()
        if whole == self._last_pct or (
            self._last_write is not None and now - self._last_write < self.interval_s
        ):
            return
        try:
            self.media.update(
                actions=[Media.progress_pct.set(whole)],
                condition=(Media.status == self.status) & (Media.job_id == self.media.job_id),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise JobSuperseded(f"media {self.media.media_id} left {self.status}") from None
            raise
        self._last_write, self._last_pct = now, whole


def _expect(media: Media, *statuses: str) -> None:
    if media.status not in statuses:
        raise JobSuperseded(f"media {media.media_id} is {media.status}, not {' or '.join(statuses)}")
