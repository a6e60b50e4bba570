"""Media: presigned multipart uploads straight to S3, their bytes in the storage counter, lists, deletion."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from playout import aws, storage
from playout.errors import InvalidInput, InvalidState, NotFound, QuotaExceeded
from playout.ids import new_id
from playout.models import MEDIA_PREFIX, Media, user_pk, utcnow
from playout.pagination import Page, query_page
from playout.resources import IMMUTABLE_CACHE_CONTROL
from playout.settings import get_settings

MAX_PARTS = 10_000  # S3's limit on parts per multipart upload
MAX_UPLOAD_BYTES = 50 * 1024**3
# After the last part URL expires, the time a client still has to call complete; past it the upload counts
# as abandoned and its reservation is released (S3 aborts its parts a day after it began, whatever happens).
COMPLETE_GRACE = timedelta(hours=1)
UPLOADING, PROCESSING, READY, FAILED = "uploading", "processing", "ready", "failed"


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
    return f"media/{user_id}/{media_id}/source"


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
    part_size = part_size_for(size_bytes, settings.upload_part_size_bytes)
    parts = [
        PresignedPart(number, _presign_part(key, upload_id, number, length), length)
        for number, length in enumerate(part_sizes(size_bytes, part_size), start=1)
    ]
    return UploadPlan(media, upload_id, part_size, parts)


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


def release_abandoned_uploads(user_id: str, now: datetime | None = None) -> None:
    """Fails the owner's uploads not completed in time, aborting their parts and releasing their bytes.

    Done when the owner next creates an upload, lists media or reads the counter, the moments the counter
    matters: one Query that finds nothing in the usual case, no scheduled sweep over every user."""
    for reservation in storage.expired_reservations(user_id, now or utcnow()):
        try:
            media = get_media(user_id, reservation.media_id, consistent=True)
        except NotFound:
            media = None
        if media is None or media.status != UPLOADING or media.reservation_sk != reservation.sk:
            storage.forget(reservation)  # settled or deleted since: its bytes were counted then
            continue
        _abort(media)
        with contextlib.suppress(storage.Conflict):  # completed or deleted meanwhile
            _fail(media, "the upload was not completed in time; upload the file again")


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
        if media.status in (PROCESSING, READY):
            return media  # a retried complete: the first one already settled the bytes
        raise InvalidState(f"media {media_id} is {media.status}, not uploading")
    if not parts:
        raise InvalidInput("parts must list every uploaded part")
    settings = get_settings()
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
    try:
        if stored != media.size_bytes:
            _fail(media, f"uploaded {stored} bytes but {media.size_bytes} were declared")
        else:
            storage.settle(
                media,
                stored,
                settings.storage_quota_bytes,
                [Media.status.set(READY), Media.upload_id.remove()],
            )
    except storage.Conflict:
        current = get_media(user_id, media_id, consistent=True)
        if current.status == UPLOADING:
            raise InvalidState(f"media {media_id} was changed concurrently; try again") from None
    return get_media(user_id, media_id, consistent=True)


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
    media.status, media.error, media.counted_bytes = FAILED, reason, 0


def delete_media(user_id: str, media_id: str, in_use: bool) -> None:
    """Deletes the media, its object and what it holds of the quota, read afresh at each attempt."""
    media = get_media(user_id, media_id, consistent=True)
    if in_use:
        raise InvalidState(f"media {media_id} is playing in an active stream; stop the stream first")
    for _ in range(_DELETE_ATTEMPTS):
        if media.status == UPLOADING:
            _abort(media)
        _s3().delete_object(Bucket=get_settings().media_bucket, Key=media.object_key)
        try:
            storage.remove(media)
            return
        except storage.Conflict:  # completed or failed since it was read: what it holds changed
            media = get_media(user_id, media_id, consistent=True)
    raise InvalidState(f"media {media_id} keeps changing; try again")


_DELETE_ATTEMPTS = 3
