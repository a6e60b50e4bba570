"""What refers to a media item in its owner's library: the playlists that list it and the active streams that
play it, found together by one Query. In the owner's item collection, playlists (`PLAYLIST#`), the profile
(`PROFILE`) and streams (`STREAM#`) sort next to one another, so one key range holds them all and a filter
keeps the ones that name the media."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from playout.models import PLAYLIST_PREFIX, STREAM_PREFIX, Playlist, Stream, read_range, user_pk

# The last sort key of the range: every stream's key sorts before it (ids are ASCII).
_AFTER_STREAMS = STREAM_PREFIX + "\uffff"


@dataclass(frozen=True)
class References:
    playlists: list[Playlist]  # that list the media
    active_streams: list[Stream]  # in one of the given statuses, that play it


def references(user_id: str, media_id: str, active_statuses: Sequence[str]) -> References:
    naming = Playlist.media_ids.contains(media_id)
    # A playlist has no status; a stream counts only while active; the profile names no media.
    wanted = naming & (Stream.status.does_not_exist() | Stream.status.is_in(*active_statuses))
    found: list[Any] = read_range(
        user_pk(user_id),
        PLAYLIST_PREFIX,
        _AFTER_STREAMS,
        wanted,
        {PLAYLIST_PREFIX: Playlist, STREAM_PREFIX: Stream},
    )
    return References(
        [item for item in found if isinstance(item, Playlist)],
        [item for item in found if isinstance(item, Stream)],
    )
