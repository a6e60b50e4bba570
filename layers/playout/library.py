"""A media item and what refers to it in its owner's library (the playlists that list it, the active streams
that play it), found together by one strongly consistent Query. In the owner's item collection, media
(`MEDIA#`), playlists (`PLAYLIST#`), the profile (`PROFILE`) and streams (`STREAM#`) sort in that order, so
one key range from the media's own key to the last stream holds them all, and a filter keeps the media
itself and the items that name it.

The range also reads the media whose ids sort after this one (ids are time-sortable: the newer ones), which
the filter drops: a library of under about a thousand items stays within one 1 MB page, so one call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from playout.models import (
    MEDIA_PREFIX,
    PLAYLIST_PREFIX,
    STREAM_PREFIX,
    Media,
    Playlist,
    Stream,
    read_range,
    user_pk,
)

# The last sort key of the range: every stream's key sorts before it (ids are ASCII).
_AFTER_STREAMS = STREAM_PREFIX + "\uffff"


@dataclass(frozen=True)
class MediaInUse:
    media: Media | None  # None: the user has no such media
    playlists: list[Playlist]  # that list the media
    active_streams: list[Stream]  # in one of the given statuses, that play it


def media_in_use(user_id: str, media_id: str, active_statuses: Sequence[str]) -> MediaInUse:
    naming = Playlist.media_ids.contains(media_id)
    # A playlist has no status; a stream counts only while active; the profile names no media, nor does
    # another media item (whose `media_id` differs).
    wanted = (Media.media_id == media_id) | (
        naming & (Stream.status.does_not_exist() | Stream.status.is_in(*active_statuses))
    )
    found: list[Any] = read_range(
        user_pk(user_id),
        MEDIA_PREFIX + media_id,
        _AFTER_STREAMS,
        wanted,
        {MEDIA_PREFIX: Media, PLAYLIST_PREFIX: Playlist, STREAM_PREFIX: Stream},
        consistent=True,
    )
    media = [item for item in found if isinstance(item, Media)]
    return MediaInUse(
        media[0] if media else None,
        [item for item in found if isinstance(item, Playlist)],
        [item for item in found if isinstance(item, Stream)],
    )
