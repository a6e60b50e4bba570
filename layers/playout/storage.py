"""The owner's storage counter: bytes reserved when an upload is created, settled to what S3 stored when it
completes, released when it fails, is abandoned or is deleted.

A media item's `counted_bytes` is what it holds in the counter. Every change of it is one transaction with
the counter's ADD of the difference, conditional on the item still holding what the caller read: a write
from a stale read is refused (`Conflict`) instead of leaving the counter wrong, and the caller reads again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from playout.errors import QuotaExceeded
from playout.models import PROFILE_SK, RESERVATION_PREFIX, Media, UploadReservation, UserProfile, user_pk

# Sortable to the second, so that an sk range finds the reservations that expired before a time.
_EXPIRY_FORMAT = "%Y%m%dT%H%M%SZ"


class Conflict(Exception):
    """The media item changed since it was read (completed, failed or deleted by another request)."""


def reserve(media: Media, quota: int, abandoned_after: datetime) -> None:
    """Saves the new `media` holding its declared size, if the owner's quota has room for it.

    Its reservation item is among `expired_reservations` once `abandoned_after` has passed."""
    size = int(media.size_bytes)
    if size > quota:
        raise QuotaExceeded(f"{size} bytes would exceed the storage quota of {quota}")
    media.counted_bytes = size
    media.reservation_sk = f"{RESERVATION_PREFIX}{abandoned_after.strftime(_EXPIRY_FORMAT)}#{media.media_id}"
    try:
        with _transaction() as transaction:
            transaction.save(media, condition=Media.sk.does_not_exist())
            transaction.save(UploadReservation(media.pk, media.reservation_sk, media_id=media.media_id))
            transaction.update(
                _profile_of(media),
                actions=[UserProfile.storage_used_bytes.add(size), UserProfile.open_uploads.add(1)],
                condition=_room_for(size, quota),
            )
    except TransactWriteError as error:
        if _refused(error) == _PROFILE:
            raise QuotaExceeded(f"{size} more bytes would exceed the storage quota of {quota}") from None
        raise


def settle(
    media: Media,
    stored_bytes: int,
    quota: int,
    actions: Sequence[Any],
    *,
    condition: Condition | None = None,
    profile_actions: Sequence[Any] = (),
) -> None:
    """Applies `actions` to `media` and makes it hold `stored_bytes`, moving the counter by the difference.

    `condition` narrows the write further (the media job's run); `profile_actions` change the owner's
    profile in the same transaction (the count of imports in flight).
    Raises QuotaExceeded if it grew past the quota (nothing written), Conflict if `media` changed."""
    delta = stored_bytes - int(media.counted_bytes)
    unchanged = _holds(media) & (Media.status == media.status)
    try:
        with _transaction() as transaction:
            transaction.update(
                media,
                actions=[*actions, Media.counted_bytes.set(stored_bytes), Media.reservation_sk.remove()],
                condition=unchanged & condition if condition is not None else unchanged,
            )
            _forget_reservation(transaction, media)
            counter = [UserProfile.storage_used_bytes.add(delta)] if delta else []
            counter += _closing_upload(media)
            if counter or profile_actions:
                transaction.update(
                    _profile_of(media),
                    actions=[*counter, *profile_actions],
                    condition=_room_for(delta, quota) if delta > 0 else None,
                )
    except TransactWriteError as error:
        if _refused(error) == _PROFILE:
            raise QuotaExceeded(f"{delta} more bytes would exceed the storage quota of {quota}") from None
        if _refused(error) == _MEDIA:
            raise Conflict(f"media {media.media_id} changed") from None
        raise
    media.counted_bytes, media.reservation_sk = stored_bytes, None


def release(
    media: Media,
    actions: Sequence[Any],
    *,
    condition: Condition | None = None,
    profile_actions: Sequence[Any] = (),
) -> None:
    """Applies `actions` to `media` (a failure) and gives back every byte it holds; Conflict if it changed."""
    settle(media, 0, quota=0, actions=actions, condition=condition, profile_actions=profile_actions)


def remove(
    media: Media,
    profile_actions: Sequence[Any] = (),
    also: Sequence[tuple[Any, Sequence[Any], Condition]] = (),
) -> None:
    """Deletes `media` and gives back every byte it holds, with `also`'s (item, actions, condition) updates
    in the same transaction; Conflict if `media` changed since it was read or one of `also`'s conditions
    fails."""
    counted = int(media.counted_bytes)
    try:
        with _transaction() as transaction:
            transaction.delete(media, condition=_holds(media) & (Media.status == media.status))
            _forget_reservation(transaction, media)
            counter = [UserProfile.storage_used_bytes.add(-counted)] if counted else []
            counter += _closing_upload(media)
            if counter or profile_actions:
                transaction.update(_profile_of(media), actions=[*counter, *profile_actions])
            for item, actions, condition in also:
                transaction.update(item, actions=list(actions), condition=condition)
    except TransactWriteError as error:
        if _refused(error) is not None:  # the media's condition, or one of `also`'s: none on the profile
            raise Conflict(f"media {media.media_id} or what refers to it changed") from None
        raise


def expired_reservations(user_id: str, now: datetime) -> list[UploadReservation]:
    """The owner's uploads abandoned before `now`: one Query that reads only those (usually none)."""
    pk = user_pk(user_id)
    upper = f"{RESERVATION_PREFIX}{now.strftime(_EXPIRY_FORMAT)}"
    return list(UploadReservation.query(pk, UploadReservation.sk.between(RESERVATION_PREFIX, upper)))


def forget(reservation: UploadReservation) -> None:
    """Deletes a reservation whose media has already settled or gone (its bytes were counted then)."""
    reservation.delete()


def create(media: Media, *, condition_on_profile: Condition, profile_actions: Sequence[Any]) -> bool:
    """Saves the new `media` holding nothing yet, changing the owner's profile with it if
    `condition_on_profile` holds; False (nothing written) if it does not."""
    media.counted_bytes = 0
    try:
        with _transaction() as transaction:
            transaction.save(media, condition=Media.sk.does_not_exist())
            transaction.update(
                _profile_of(media), actions=list(profile_actions), condition=condition_on_profile
            )
    except TransactWriteError as error:
        if _refused(error) == _PROFILE:
            return False
        raise
    return True


def _transaction() -> TransactWrite:
    return TransactWrite(connection=Media._get_connection().connection)


# Every transaction here writes the media item first, its reservation second and the profile last.
_MEDIA, _PROFILE = 0, -1


def _refused(error: TransactWriteError) -> int | None:
    """Which operation's condition refused the transaction: _MEDIA, _PROFILE or None (another cause)."""
    reasons = [reason.code if reason else None for reason in error.cancellation_reasons or []]
    if "ConditionalCheckFailed" not in reasons:
        return None
    index = reasons.index("ConditionalCheckFailed")
    return _MEDIA if index == 0 else _PROFILE if index == len(reasons) - 1 else index


def _holds(media: Media) -> Condition:
    """`media` exists and holds the bytes it held when read."""
    counted = int(media.counted_bytes)
    holds = Media.counted_bytes == counted
    if counted == 0:  # items written before the counter existed have no attribute
        holds = holds | Media.counted_bytes.does_not_exist()
    return Media.sk.exists() & holds


def _room_for(more_bytes: int, quota: int) -> Condition:
    return UserProfile.storage_used_bytes.does_not_exist() | (
        UserProfile.storage_used_bytes <= quota - more_bytes
    )


def _forget_reservation(transaction: TransactWrite, media: Media) -> None:
    if media.reservation_sk:
        transaction.delete(UploadReservation(media.pk, media.reservation_sk))


def _closing_upload(media: Media) -> list[Any]:
    """The profile's count of open uploads, down by one when `media`'s reservation goes."""
    return [UserProfile.open_uploads.add(-1)] if media.reservation_sk else []


def _profile_of(media: Media) -> UserProfile:
    return UserProfile(media.pk, PROFILE_SK)
