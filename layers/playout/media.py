"""Media: presigned multipart uploads straight to S3, the storage counter, listing and deletion."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from playout import aws
from playout.errors import InvalidInput, InvalidState, NotFound, QuotaExceeded
from playout.ids import new_id
from playout.models import MEDIA_PREFIX, PROFILE_SK, Media, UserProfile, user_pk
from playout.pagination import Page, query_page
from playout.resources import IMMUTABLE_CACHE_CONTROL
from playout.settings import get_settings
from playout.users import storage_used_bytes

MAX_PARTS = 10_000  # S3's limit on parts per multipart upload
UPLOADING, PROCESSING, READY, FAILED = "uploading", "processing", "ready", "failed"


@dataclass(frozen=True)
class PresignedPart:
    part_number: int
    url: str


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


def _s3() -> Any:
    return aws.client("s3", get_settings().s3_addressing_style)


def create_upload(user_id: str, filename: str, size_bytes: int, content_type: str) -> UploadPlan:
    settings = get_settings()
    if storage_used_bytes(user_id) + size_bytes > settings.storage_quota_bytes:
        raise QuotaExceeded(
            f"{size_bytes} more bytes would exceed the storage quota of {settings.storage_quota_bytes}"
        )
    media_id = new_id("med")
    key = object_key(user_id, media_id)
    upload = _s3().create_multipart_upload(
        Bucket=settings.media_bucket, Key=key, ContentType=content_type, CacheControl=IMMUTABLE_CACHE_CONTROL
    )
    part_size = part_size_for(size_bytes, settings.upload_part_size_bytes)
    media = Media(
        user_pk(user_id),
        MEDIA_PREFIX + media_id,
        media_id=media_id,
        filename=filename,
        content_type=content_type,
        size_bytes=size_bytes,
        status=UPLOADING,
        object_key=key,
        upload_id=upload["UploadId"],
    )
    media.save()
    parts = [
        PresignedPart(number, _presign_part(key, upload["UploadId"], number))
        for number in range(1, max(1, math.ceil(size_bytes / part_size)) + 1)
    ]
    return UploadPlan(media, upload["UploadId"], part_size, parts)


def _presign_part(key: str, upload_id: str, part_number: int) -> str:
    settings = get_settings()
    url: str = _s3().generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": settings.media_bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": part_number,
        },
        ExpiresIn=settings.presign_expiry_s,
    )
    return url


def get_media(user_id: str, media_id: str) -> Media:
    try:
        return Media.get(user_pk(user_id), MEDIA_PREFIX + media_id)
    except Media.DoesNotExist:
        raise NotFound(f"media {media_id} not found") from None


def find_media(user_id: str, media_ids: Iterable[str]) -> dict[str, Media]:
    """The caller's media among `media_ids`, by id; unknown ids (and another user's) are left out.

    One BatchGetItem per 100 distinct ids, however long the list and however often an id repeats.
    """
    pk = user_pk(user_id)
    keys = {(pk, MEDIA_PREFIX + media_id) for media_id in media_ids}
    return {str(item.media_id): item for item in Media.batch_get(keys)}


def list_media(user_id: str, limit: int, cursor: str | None) -> Page[Media]:
    return query_page(Media, user_id, MEDIA_PREFIX, limit, cursor)


def complete_upload(user_id: str, media_id: str, parts: list[tuple[int, str]]) -> Media:
    """Completes the S3 upload, checks what arrived, and counts it against the quota in one transaction."""
    media = get_media(user_id, media_id)
    if media.status != UPLOADING:
        if media.status in (PROCESSING, READY):
            return media  # a retried complete: the first one already counted the bytes
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
        raise InvalidState(
            f"the upload of media {media_id} has expired or was aborted; upload it again"
        ) from None
    except s3.exceptions.ClientError as error:
        raise InvalidInput(
            f"S3 refused the parts: {error.response['Error'].get('Message', 'invalid parts')}"
        ) from None
    stored = int(s3.head_object(Bucket=settings.media_bucket, Key=media.object_key)["ContentLength"])
    if stored != media.size_bytes:
        _fail(media, f"uploaded {stored} bytes but {media.size_bytes} were declared")
        return media
    _count_and_mark_ready(user_id, media, stored, settings.storage_quota_bytes)
    return get_media(user_id, media_id)


def _count_and_mark_ready(user_id: str, media: Media, stored: int, quota: int) -> None:
    profile = UserProfile(user_pk(user_id), PROFILE_SK)
    try:
        with TransactWrite(connection=Media._get_connection().connection) as transaction:
            transaction.update(
                media,
                actions=[
                    Media.status.set(READY),
                    Media.counted_bytes.set(stored),
                    Media.upload_id.remove(),
                ],
                condition=Media.status == UPLOADING,
            )
            transaction.update(
                profile,
                actions=[UserProfile.storage_used_bytes.add(stored)],
                condition=UserProfile.storage_used_bytes.does_not_exist()
                | (UserProfile.storage_used_bytes <= quota - stored),
            )
    except TransactWriteError as error:
        reasons = [r.code for r in (error.cancellation_reasons or []) if r]
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            _fail(media, "the file would exceed the storage quota")
            raise QuotaExceeded("the uploaded file would exceed the storage quota; it was not kept") from None
        raise InvalidState(f"media {media.media_id} was completed concurrently") from None


def _fail(media: Media, reason: str) -> None:
    _s3().delete_object(Bucket=get_settings().media_bucket, Key=media.object_key)
    media.update(actions=[Media.status.set(FAILED), Media.error.set(reason)])


def delete_media(user_id: str, media_id: str, in_use: bool) -> None:
    media = get_media(user_id, media_id)
    if in_use:
        raise InvalidState(f"media {media_id} is playing in an active stream; stop the stream first")
    settings = get_settings()
    s3 = _s3()
    if media.status == UPLOADING and media.upload_id:
        with contextlib.suppress(s3.exceptions.NoSuchUpload):
            s3.abort_multipart_upload(
                Bucket=settings.media_bucket, Key=media.object_key, UploadId=media.upload_id
            )
    s3.delete_object(Bucket=settings.media_bucket, Key=media.object_key)
    with TransactWrite(connection=Media._get_connection().connection) as transaction:
        transaction.delete(media, condition=Media.sk.exists())
        if media.counted_bytes:
            transaction.update(
                UserProfile(user_pk(user_id), PROFILE_SK),
                actions=[UserProfile.storage_used_bytes.add(-int(media.counted_bytes))],
            )
