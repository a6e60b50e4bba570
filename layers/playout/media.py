"""Media: presigned multipart uploads straight to S3, imports from a link, their bytes in the storage
counter, lists, deletion. What happens to a file once stored (probe, thumbnail, conform) is the media job's:
it is launched here and writes through playout.media_jobs."""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from playout import aws, launcher, library, storage
from playout.errors import InvalidInput, InvalidState, NotFound, QuotaExceeded, TooManyRequests
from playout.ids import new_id
from playout.models import MEDIA_PREFIX, Media, Playlist, UserProfile, user_pk, utcnow
from playout.pagination import Page, query_page
from playout.resources import IMMUTABLE_CACHE_CONTROL
from playout.settings import get_settings

MAX_PARTS = 10_000  # S3's limit on parts per multipart upload
MAX_UPLOAD_BYTES = 50 * 1024**3
# After the last part URL expires, the time a client still has to call complete; past it the upload counts
# as abandoned and its reservation is released (S3 aborts its parts a day after it began, whatever happens).
COMPLETE_GRACE = timedelta(hours=1)


class MediaStatus(StrEnum):
    UPLOADING = "uploading"  # the browser is sending parts
    IMPORTING = "importing"  # the media job is fetching the link
    PROBING = "probing"  # stored; the media job reads its facts and draws its thumbnail
    CONFORMING = "conforming"  # the media job writes its stream-ready copy (progress_pct)
    READY = "ready"
    FAILED = "failed"


UPLOADING, IMPORTING, PROBING, CONFORMING, READY, FAILED = (
    MediaStatus.UPLOADING,
    MediaStatus.IMPORTING,
    MediaStatus.PROBING,
    MediaStatus.CONFORMING,
    MediaStatus.READY,
    MediaStatus.FAILED,
)
IN_JOB = (IMPORTING, PROBING, CONFORMING)  # the statuses a media job moves on from


@dataclass(frozen=True)
class PresignedPart:
    part_number: int
    url: str
    size_bytes: int  # the exact length signed into the URL: S3 refuses a PUT of any other length


@dataclass(frozen=True)
class UploadPlan:
    media: Media
    upload_id: str
    part_size: int
    parts: list[PresignedPart]


def object_key(user_id: str, media_id: str) -> str:
    """The original as uploaded or imported."""
    return f"media/{user_id}/{media_id}/source"


def conformed_key(user_id: str, media_id: str) -> str:
    """The stream-ready copy of a media whose original was not; it replaces the original once complete."""
    return f"media/{user_id}/{media_id}/conformed.mp4"


def thumbnail_key(user_id: str, media_id: str) -> str:
    return f"media/{user_id}/{media_id}/thumbnail.webp"


def part_size_for(size_bytes: int, preferred: int) -> int:
    """The preferred part size, grown in whole MiB when a file would need more than S3's 10,000 parts."""
    if size_bytes <= preferred * MAX_PARTS:
        return preferred
    mib = 1024**2
    return math.ceil(size_bytes / MAX_PARTS / mib) * mib


def part_sizes(size_bytes: int, part_size: int) -> list[int]:
    """The length of each part in order: whole parts, then what is left (one part for a small file)."""
    whole, rest = divmod(size_bytes, part_size)
    return [part_size] * whole + ([rest] if rest else [])


def _s3() -> Any:
    return aws.client("s3", get_settings().s3_addressing_style)


def create_upload(
    user_id: str, filename: str, size_bytes: int, content_type: str, now: datetime | None = None
) -> UploadPlan:
    """Reserves `size_bytes` of the quota and starts an S3 multipart upload with a presigned URL per part."""
    settings = get_settings()
    now = now or utcnow()
    release_abandoned_uploads(user_id, now)
    media_id = new_id("med")
    key = object_key(user_id, media_id)
    s3 = _s3()
    # The bucket's default encryption applies: no SSE parameter here overrides it.
    upload_id = s3.create_multipart_upload(
        Bucket=settings.media_bucket, Key=key, ContentType=content_type, CacheControl=IMMUTABLE_CACHE_CONTROL
    )["UploadId"]
    media = Media(
        user_pk(user_id),
        MEDIA_PREFIX + media_id,
        media_id=media_id,
        filename=filename,
        content_type=content_type,
        size_bytes=size_bytes,
        status=UPLOADING,
        object_key=key,
        upload_id=upload_id,
    )
    abandoned_after = now + timedelta(seconds=settings.presign_expiry_s) + COMPLETE_GRACE
    try:
        storage.reserve(media, settings.storage_quota_bytes, abandoned_after)
    except QuotaExceeded:
        s3.abort_multipart_upload(Bucket=settings.media_bucket, Key=key, UploadId=upload_id)
        raise
    part_size, lengths = _part_plan(size_bytes)
    return UploadPlan(media, upload_id, part_size, _presigned_parts(key, upload_id, lengths))


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    etag: str
    size_bytes: int


def resume_upload(user_id: str, media_id: str) -> tuple[UploadPlan, list[UploadedPart]]:
    """The plan of an upload still under way, afresh (a new presigned URL for every part), and the parts S3
    already holds: what a browser needs to send only the missing parts after a closed tab or a pause."""
    media = get_media(user_id, media_id, consistent=True)
    if media.status != UPLOADING or not media.upload_id:
        raise InvalidState(f"media {media_id} is {media.status}, not uploading")
    s3 = _s3()
    uploaded: list[UploadedPart] = []
    marker = 0
    while True:
        try:
            page = s3.list_parts(
                Bucket=get_settings().media_bucket,
                Key=media.object_key,
                UploadId=media.upload_id,
                PartNumberMarker=marker,
            )
        except s3.exceptions.NoSuchUpload:
            raise InvalidState(f"the upload of media {media_id} has expired; upload it again") from None
        uploaded += [
            UploadedPart(int(p["PartNumber"]), str(p["ETag"]), int(p["Size"])) for p in page.get("Parts", [])
        ]
        if not page.get("IsTruncated"):
            break
        marker = int(page["NextPartNumberMarker"])
    part_size, lengths = _part_plan(int(media.size_bytes))
    key, upload_id = str(media.object_key), str(media.upload_id)
    return UploadPlan(media, upload_id, part_size, _presigned_parts(key, upload_id, lengths)), uploaded


def _part_plan(size_bytes: int) -> tuple[int, list[int]]:
    """An upload's part size and each part's length: as its URLs are presigned and its complete checked."""
    part_size = part_size_for(size_bytes, get_settings().upload_part_size_bytes)
    return part_size, part_sizes(size_bytes, part_size)


def _presigned_parts(key: str, upload_id: str, lengths: list[int]) -> list[PresignedPart]:
    return [
        PresignedPart(number, _presign_part(key, upload_id, number, length), length)
        for number, length in enumerate(lengths, start=1)
    ]


def _check_every_part_once(parts: list[tuple[int, str]], planned: int) -> None:
    """Before S3 sees them: a complete lists each part the upload was given a URL for, once. S3 would store a
    complete that leaves parts out as a short file, which then fails as not what was declared."""
    counts = Counter(number for number, _ in parts)
    problems = []
    if twice := sorted(n for n, count in counts.items() if count > 1):
        problems.append(f"listed more than once: {_some(twice)}")
    if beyond := sorted(n for n in counts if n > planned):
        problems.append(f"beyond the upload's {planned}: {_some(beyond)}")
    if missing := [n for n in range(1, planned + 1) if n not in counts]:
        problems.append(f"missing: {_some(missing)}")
    if problems:
        raise InvalidInput(
            f"parts must list each of the upload's {planned} parts once (numbers 1 to {planned}); parts "
            + "; ".join(problems)
        )


def _some(numbers: list[int], shown: int = 5) -> str:
    listed = ", ".join(str(n) for n in numbers[:shown])
    return listed if len(numbers) <= shown else f"{listed} and {len(numbers) - shown} more"


def _presign_part(key: str, upload_id: str, part_number: int, length: int) -> str:
    settings = get_settings()
    url: str = _s3().generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": settings.media_bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part_number,
            "ContentLength": length,  # signed as a header: a part cannot carry more than was declared
        },
        ExpiresIn=settings.presign_expiry_s,
    )
    return url


def release_abandoned_uploads(user_id: str, now: datetime | None = None) -> int:
    """Fails the owner's uploads not completed in time, aborting their parts and releasing their bytes.

    Done when the owner next creates an upload, lists media or reads the counter, the moments the counter
    matters: one Query that finds nothing in the usual case, no scheduled sweep over every user. Returns the
    bytes given back."""
    released = 0
    for reservation in storage.expired_reservations(user_id, now or utcnow()):
        try:
            media = get_media(user_id, reservation.media_id, consistent=True)
        except NotFound:
            media = None
        if media is None or media.status != UPLOADING or media.reservation_sk != reservation.sk:
            storage.forget(reservation)  # settled or deleted since: its bytes were counted then
            continue
        _abort(media)
        held = int(media.counted_bytes)
        with contextlib.suppress(storage.Conflict):  # completed or deleted meanwhile
            _fail(media, "the upload was not completed in time; upload the file again")
            released += held
    return released


def _abort(media: Media) -> None:
    s3 = _s3()
    if media.upload_id:
        with contextlib.suppress(s3.exceptions.NoSuchUpload):
            s3.abort_multipart_upload(
                Bucket=get_settings().media_bucket, Key=media.object_key, UploadId=media.upload_id
            )


def get_media(user_id: str, media_id: str, consistent: bool = False) -> Media:
    try:
        return Media.get(user_pk(user_id), MEDIA_PREFIX + media_id, consistent_read=consistent)
    except Media.DoesNotExist:
        raise NotFound(f"media {media_id} not found") from None


def find_media(user_id: str, media_ids: Iterable[str]) -> dict[str, Media]:
    """The caller's media among `media_ids`, by id; unknown ids (and another user's) are left out.

    One BatchGetItem per 100 distinct ids, however long the list and however often an id repeats.
    """
    pk = user_pk(user_id)
    keys = {(pk, MEDIA_PREFIX + media_id) for media_id in media_ids}
    return {str(item.media_id): item for item in Media.batch_get(keys)}


def list_media(user_id: str, limit: int, cursor: str | None, now: datetime | None = None) -> Page[Media]:
    release_abandoned_uploads(user_id, now)
    return query_page(Media, user_id, MEDIA_PREFIX, limit, cursor)


def complete_upload(user_id: str, media_id: str, parts: list[tuple[int, str]]) -> Media:
    """Completes the S3 upload and settles the reservation to the size S3 stored, or fails the media."""
    media = get_media(user_id, media_id, consistent=True)
    if media.status != UPLOADING:
        if media.status == PROBING and media.job_id:
            # A retried complete: the first settled the bytes; its launch may be what failed (one job per id).
            launcher.get_launcher().start_media_job(media_id, user_id, str(media.job_id))
        if media.status in (*IN_JOB, READY):
            return media
        raise InvalidState(f"media {media_id} is {media.status}, not uploading")
    settings = get_settings()
    _check_every_part_once(parts, len(_part_plan(int(media.size_bytes))[1]))
    s3 = _s3()
    try:
        s3.complete_multipart_upload(
            Bucket=settings.media_bucket,
            Key=media.object_key,
            UploadId=media.upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in sorted(parts)]},
        )
    except s3.exceptions.NoSuchUpload:
        # Gone: aborted as abandoned, or completed by a concurrent call (then its object is there).
        if _stored_bytes(media) is None:
            with contextlib.suppress(storage.Conflict):
                _fail(media, "the upload expired or was aborted; upload the file again")
            raise InvalidState(
                f"the upload of media {media_id} has expired or was aborted; upload it again"
            ) from None
    except s3.exceptions.ClientError as error:
        raise InvalidInput(
            f"S3 refused the parts: {error.response['Error'].get('Message', 'invalid parts')}"
        ) from None
    stored = _stored_bytes(media) or 0
    job_id = new_id("job")
    try:
        if stored != media.size_bytes:
            _fail(media, f"uploaded {stored} bytes but {media.size_bytes} were declared")
        else:
            storage.settle(
                media,
                stored,
                settings.storage_quota_bytes,
                [
                    Media.status.set(PROBING),
                    Media.job_id.set(job_id),
                    Media.progress_pct.remove(),
                    Media.upload_id.remove(),
                ],
            )
            media.status, media.job_id, media.progress_pct, media.upload_id = PROBING, job_id, None, None
            launcher.get_launcher().start_media_job(media_id, user_id, job_id)
    except storage.Conflict:
        current = get_media(user_id, media_id, consistent=True)
        if current.status == UPLOADING:
            raise InvalidState(f"media {media_id} was changed concurrently; try again") from None
        return current
    return media  # as the settling write left it (storage.settle keeps it in step)


def create_import(user_id: str, url: str, filename: str) -> Media:
    """A media item `importing` from `url` (checked by the caller) and the job that fetches it.

    At most `max_concurrent_imports` per owner are in flight: the owner's count of them changes in the
    same transaction as each media item entering or leaving `importing`."""
    settings = get_settings()
    media_id = new_id("med")
    media = Media(
        user_pk(user_id),
        MEDIA_PREFIX + media_id,
        media_id=media_id,
        filename=filename,
        content_type="application/octet-stream",
        size_bytes=0,
        status=IMPORTING,
        object_key=object_key(user_id, media_id),
        job_id=new_id("job"),
        progress_pct=0,
        source_url=url,
    )
    room = UserProfile.active_imports.does_not_exist() | (
        UserProfile.active_imports < settings.max_concurrent_imports
    )
    if not storage.create(
        media, condition_on_profile=room, profile_actions=[UserProfile.active_imports.add(1)]
    ):
        raise TooManyRequests(
            f"{settings.max_concurrent_imports} imports are already running; wait for one to finish"
        )
    try:
        launcher.get_launcher().start_media_job(media_id, user_id, str(media.job_id))
    except ClientError as error:
        # Nothing would ever fetch it: it fails at once, with its place among the owner's imports freed.
        reason = f"the import could not be launched ({error.response['Error'].get('Code')}); try again"
        storage.release(
            media, [Media.status.set(FAILED), Media.error.set(reason)], profile_actions=leaving_imports(media)
        )
        media.status, media.error = FAILED, reason
    return media


def _stored_bytes(media: Media) -> int | None:
    s3 = _s3()
    try:
        head = s3.head_object(Bucket=get_settings().media_bucket, Key=media.object_key)
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return int(head["ContentLength"])


def _fail(media: Media, reason: str) -> None:
    """Marks `media` failed for `reason`, deletes its object, releases its bytes; Conflict if it changed."""
    _s3().delete_object(Bucket=get_settings().media_bucket, Key=media.object_key)
    storage.release(media, [Media.status.set(FAILED), Media.error.set(reason), Media.upload_id.remove()])
    media.status, media.error, media.counted_bytes, media.upload_id = FAILED, reason, 0, None


def stored_keys(media: Media) -> list[str]:
    """Every object the media may have stored: its original, its conformed copy, its thumbnail."""
    user_id, media_id = str(media.pk).removeprefix("USER#"), str(media.media_id)
    keys = [object_key(user_id, media_id), conformed_key(user_id, media_id), thumbnail_key(user_id, media_id)]
    return list(dict.fromkeys([str(media.object_key), *keys]))


def delete_objects(s3: Any, bucket: str, keys: Iterable[str]) -> None:
    objects = [{"Key": key} for key in keys]
    if objects:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


def leaving_imports(media: Media) -> list[Any]:
    """The profile's actions that go with `media` leaving its status: an import in flight no longer is."""
    return [UserProfile.active_imports.add(-1)] if media.status == IMPORTING else []


def delete_media(user_id: str, media_id: str, active_statuses: Sequence[str]) -> None:
    """Deletes the media, its objects and what it holds of the quota, unless a stream in `active_statuses`
    plays it; the playlists that list it no longer know their length (each says unknown until the media is
    taken out, and counts again after), in the same transaction. Two calls: the media and what refers to it
    (one Query, playout.library), then the transaction; read afresh at each attempt."""
    for _ in range(_DELETE_ATTEMPTS):
        found = library.media_in_use(user_id, media_id, active_statuses)
        media = found.media
        if media is None:
            raise NotFound(f"media {media_id} not found")
        if found.active_streams:
            raise InvalidState(f"media {media_id} is playing in an active stream; stop the stream first")
        if media.status == UPLOADING:
            _abort(media)
        # A job still running finds the item gone at its next write and stops; what it uploads after this
        # (a thumbnail, a conformed copy) it deletes itself when that write is refused.
        delete_objects(_s3(), get_settings().media_bucket, stored_keys(media))
        lengths_unknown = [
            (playlist, [Playlist.duration_s.remove()], Playlist.media_ids.contains(media_id))
            for playlist in found.playlists
        ]
        try:
            storage.remove(media, leaving_imports(media), also=lengths_unknown)
            return
        except storage.Conflict:  # completed, failed or taken out of a playlist since it was read
            continue
    raise InvalidState(f"media {media_id} keeps changing; try again")


_DELETE_ATTEMPTS = 3
