"""Playlists: a name and the caller's media in play order (repeats allowed), played in order or shuffled.

A stream copies a playlist's items when it is created, so editing or deleting a playlist never changes a
stream made from it, and the stream task reads only the stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pynamodb.exceptions import DeleteError, PynamoDBException, UpdateError

from playout import media
from playout.errors import InvalidInput, NotFound
from playout.ids import new_id
from playout.models import PLAYLIST_PREFIX, Media, Playlist, user_pk, utcnow
from playout.pagination import Page, query_page

MAX_ITEMS = 1000
MAX_NAME_CHARS = 200
_NAMED_AT_MOST = 5  # ids spelled out in one error message


def _condition_failed(error: PynamoDBException) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


def describe_ids(ids: Sequence[str]) -> str:
    """`a, b and 3 more`: names the first few ids, so a message stays short for a list of 1,000."""
    named = ", ".join(ids[:_NAMED_AT_MOST])
    rest = len(ids) - _NAMED_AT_MOST
    return f"{named} and {rest} more" if rest > 0 else named


def missing_ids(media_ids: Sequence[str], found: Mapping[str, Media]) -> list[str]:
    """The ids not in `found`, each once, in the order they first appear."""
    return list(dict.fromkeys(m for m in media_ids if m not in found))


def total_duration(media_ids: Sequence[str], found: Mapping[str, Media]) -> float | None:
    """Seconds to play the list once (a repeated item counts each time), or None while any is unknown."""
    durations = [found[m].duration_s if m in found else None for m in media_ids]
    if any(d is None for d in durations):
        return None
    return round(sum(float(d) for d in durations if d is not None), 3)


def _valid(name: str, media_ids: Sequence[str]) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise InvalidInput(f"name must be 1 to {MAX_NAME_CHARS} characters")
    if len(media_ids) > MAX_ITEMS:
        raise InvalidInput(f"a playlist holds at most {MAX_ITEMS} items")
    return name


def _owned_media(user_id: str, media_ids: Sequence[str]) -> dict[str, Media]:
    found = media.find_media(user_id, media_ids)
    missing = missing_ids(media_ids, found)
    if missing:  # named in the body, not the path: a 404 would read as "no such playlist"
        raise InvalidInput(f"media {describe_ids(missing)} not found")
    return found


def _key(user_id: str, playlist_id: str) -> tuple[str, str]:
    return user_pk(user_id), PLAYLIST_PREFIX + playlist_id


def create_playlist(user_id: str, name: str, media_ids: Sequence[str], shuffle: bool) -> Playlist:
    name = _valid(name, media_ids)
    found = _owned_media(user_id, media_ids)
    playlist_id = new_id("pls")
    now = utcnow()
    playlist = Playlist(
        *_key(user_id, playlist_id),
        playlist_id=playlist_id,
        name=name,
        media_ids=list(media_ids),
        shuffle=shuffle,
        duration_s=total_duration(media_ids, found),
        created_at=now,
        updated_at=now,
    )
    playlist.save(condition=Playlist.sk.does_not_exist())
    return playlist


def read_playlist(user_id: str, playlist_id: str) -> Playlist:
    """The playlist as stored (one GetItem)."""
    try:
        return Playlist.get(*_key(user_id, playlist_id))
    except Playlist.DoesNotExist:
        raise NotFound(f"playlist {playlist_id} not found") from None


def get_playlist(user_id: str, playlist_id: str) -> Playlist:
    """The playlist, its duration filled in once the last of its media has been probed."""
    playlist = read_playlist(user_id, playlist_id)
    if playlist.duration_s is None and playlist.media_ids:
        _refresh_duration(user_id, playlist)
    return playlist


def _refresh_duration(user_id: str, playlist: Playlist) -> None:
    # Media are probed after upload, so a playlist written before then learns its duration later.
    media_ids = [str(m) for m in playlist.media_ids]
    duration = total_duration(media_ids, media.find_media(user_id, media_ids))
    if duration is None:
        return
    try:
        playlist.update(
            actions=[Playlist.duration_s.set(duration)],
            condition=Playlist.updated_at == playlist.updated_at,
        )
    except UpdateError as error:
        if not _condition_failed(error):
            raise
        # Edited or deleted meanwhile: that write set its own duration; answer with what was read.


def list_playlists(user_id: str, limit: int, cursor: str | None) -> Page[Playlist]:
    return query_page(Playlist, user_id, PLAYLIST_PREFIX, limit, cursor)


def update_playlist(
    user_id: str, playlist_id: str, name: str, media_ids: Sequence[str], shuffle: bool
) -> Playlist:
    """Replaces name, items and shuffle in one conditional write, so a reorder is never half applied."""
    name = _valid(name, media_ids)
    found = _owned_media(user_id, media_ids)
    duration = total_duration(media_ids, found)
    playlist = Playlist(*_key(user_id, playlist_id))
    try:
        playlist.update(
            actions=[
                Playlist.name.set(name),
                # pynamodb types a ListAttribute's items as the attribute class, not the value
                Playlist.media_ids.set(list(media_ids)),  # type: ignore[arg-type]
                Playlist.shuffle.set(shuffle),
                Playlist.duration_s.remove() if duration is None else Playlist.duration_s.set(duration),
                Playlist.updated_at.set(utcnow()),
            ],
            condition=Playlist.sk.exists(),
        )
    except UpdateError as error:
        if _condition_failed(error):
            raise NotFound(f"playlist {playlist_id} not found") from None
        raise
    return playlist


def delete_playlist(user_id: str, playlist_id: str) -> None:
    try:
        Playlist(*_key(user_id, playlist_id)).delete(condition=Playlist.sk.exists())
    except DeleteError as error:
        if _condition_failed(error):
            raise NotFound(f"playlist {playlist_id} not found") from None
        raise
