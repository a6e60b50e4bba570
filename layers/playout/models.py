"""DynamoDB items (pynamodb), all in one table keyed by the owner's Cognito sub."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.connection.base import MetaTable
from pynamodb.connection.table import TableConnection
from pynamodb.constants import (
    ATTR_DEFINITIONS,
    ATTR_NAME,
    GLOBAL_SECONDARY_INDEXES,
    INDEX_NAME,
    LOCAL_SECONDARY_INDEXES,
)
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import MetaProtocol, Model, _ModelFuture
from pynamodb.transactions import TransactGet, TransactWrite

from playout.aws import share_loader
from playout.resources import (
    ACTIVE_STREAMS_INDEX,
    ACTIVE_STREAMS_INDEX_KEY,
    ACTIVE_STREAMS_INDEX_PROJECTION,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TABLE_TTL_ATTRIBUTE,
)

PROFILE_SK = "PROFILE"
MEDIA_PREFIX = "MEDIA#"
DESTINATION_PREFIX = "DEST#"
STREAM_PREFIX = "STREAM#"
PLAYLIST_PREFIX = "PLAYLIST#"
EVENT_PREFIX = "EVENT#"
HEALTH_PREFIX = "HEALTH#"
RESERVATION_PREFIX = "UPLOAD#"
YOUTUBE_QUOTA_PREFIX = "YOUTUBE_QUOTA#"
BROADCAST_PREFIX = "BROADCAST#"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def utcnow() -> datetime:
    return datetime.now(UTC)


# pynamodb gives each model class a Connection of its own, and so a botocore session and client of its own:
# some 25 ms to build each on these machines, paid again by every model a cold Lambda or a starting task
# first touches (the stream task reads streams, health, media and destinations before its first frame).
# Every model lives in the one table, so the models share one Connection per table and settings, whose
# schema holds every model's indexes. It reads botocore's JSON through the process's one loader
# (playout.aws) and builds its client at once, on that session, rather than on whichever thread first calls
# it (pynamodb keeps a session per thread).
_SHARED_CONNECTIONS: dict[tuple[object, ...], Connection] = {}
_SHARING = threading.Lock()


class _Item(Model):
    class Meta:
        table_name = os.environ.get("TABLE_NAME", "playout")
        region = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = cls._connection
        if table is not None and table.table_name == cls.Meta.table_name:
            return table
        with _SHARING:
            table = super()._get_connection()  # a TableConnection with this model's schema; no client yet
            meta = cast(MetaProtocol, cls.Meta)  # pynamodb fills in the settings a Meta leaves out
            key = (
                meta.table_name,
                meta.region,
                meta.host,
                meta.connect_timeout_seconds,
                meta.read_timeout_seconds,
                meta.max_retry_attempts,
                meta.max_pool_connections,
                tuple(sorted((meta.extra_headers or {}).items())),
                meta.aws_access_key_id,
            )
            shared = _SHARED_CONNECTIONS.get(key)
            if shared is None:
                shared = table.connection
                share_loader(shared.session)
                shared.client  # noqa: B018  (built now, on the session that shares the loader)
                _SHARED_CONNECTIONS[key] = shared
            else:
                _add_indexes(shared.get_meta_table(table.table_name), table.get_meta_table())
                table.connection = shared
            return table

    pk = UnicodeAttribute(hash_key=True, attr_name=TABLE_PARTITION_KEY)
    sk = UnicodeAttribute(range_key=True, attr_name=TABLE_SORT_KEY)
    created_at = UTCDateTimeAttribute(default=utcnow)


class UserProfile(_Item):
    email = UnicodeAttribute(null=True)
    storage_used_bytes = NumberAttribute(default=0)
    # Streams in starting/live/stopping, changed in the same transaction as each such status change.
    active_streams = NumberAttribute(default=0)
    # Imports in `importing`, changed in the same transaction as each media item entering or leaving it.
    active_imports = NumberAttribute(default=0)
    # Uploads holding a reservation (playout.storage), changed in the same transaction as each reservation
    # made or settled: while it is 0, no upload can have been abandoned, and /me need not look for one.
    # None on a profile older than the count: look.
    open_uploads = NumberAttribute(null=True)


class VideoInfo(MapAttribute[str, Any]):
    codec = UnicodeAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    fps = NumberAttribute(null=True)


class AudioInfo(MapAttribute[str, Any]):
    codec = UnicodeAttribute(null=True)
    sample_rate = NumberAttribute(null=True)
    channels = NumberAttribute(null=True)


class Media(_Item):
    media_id = UnicodeAttribute()
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size_bytes = NumberAttribute()
    status = UnicodeAttribute()
    object_key = UnicodeAttribute()
    upload_id = UnicodeAttribute(null=True)
    # Bytes this item holds in the owner's storage counter: the declared size while uploading (reserved),
    # then what S3 stored; 0 once failed. Each change moves the counter by the difference in one transaction.
    counted_bytes = NumberAttribute(default=0)
    reservation_sk = UnicodeAttribute(null=True)  # the UploadReservation's sort key while uploading
    duration_s = NumberAttribute(null=True)
    video = VideoInfo(null=True)
    audio = AudioInfo(null=True)
    stream_ready = BooleanAttribute(null=True)
    error = UnicodeAttribute(null=True)
    # The media job's: the run that may write this item (a retried job carries the same id), its progress
    # while importing or conforming, the WebP thumbnail's key and, for an import, the link it came from.
    job_id = UnicodeAttribute(null=True)
    progress_pct = NumberAttribute(null=True)
    thumbnail_key = UnicodeAttribute(null=True)
    source_url = UnicodeAttribute(null=True)
    container = UnicodeAttribute(null=True)
    bitrate_bps = NumberAttribute(null=True)


class UploadReservation(_Item):
    """`pk=USER#<sub>, sk=UPLOAD#<abandoned_after>#<media_id>`: an upload whose declared size is reserved.

    Sorted by the time after which the upload counts as abandoned, so one Query finds the expired ones."""

    media_id = UnicodeAttribute()


class Destination(_Item):
    """Where a stream goes: an RTMP(S) ingest given by hand (`rtmp`), or a connected YouTube channel
    (`youtube`, playout.youtube.channels), whose ingest is its reusable liveStream's, once made."""

    destination_id = UnicodeAttribute()
    type = UnicodeAttribute()
    name = UnicodeAttribute()
    url = UnicodeAttribute(null=True)  # the ingest; a YouTube channel's is its liveStream's RTMPS address
    stream_key_ciphertext = BinaryAttribute(legacy_encoding=False, null=True)
    # --- a YouTube channel's ---
    channel_id = UnicodeAttribute(null=True)
    channel_title = UnicodeAttribute(null=True)
    channel_thumbnail_url = UnicodeAttribute(null=True)
    # The grant's refresh token (KMS, context: user, destination, purpose) and the OAuth client it belongs to.
    refresh_token_ciphertext = BinaryAttribute(legacy_encoding=False, null=True)
    oauth_client_id = UnicodeAttribute(null=True)
    # null: ready; `needs_reconnect` once Google answered invalid_grant (revoked or expired grant).
    state = UnicodeAttribute(null=True)
    live_stream_id = UnicodeAttribute(null=True)  # the channel's reusable liveStream, made at its first start
    # Its second reusable liveStream (made at the channel's first broadcast rotation), with its own ingest and
    # key (KMS, purpose `youtube_spare_stream_key`): a rotation binds the next broadcast to the liveStream the
    # run is not pushing to, and the stream task's handover moves the push there (playout.youtube.rotation).
    spare_live_stream_id = UnicodeAttribute(null=True)
    spare_url = UnicodeAttribute(null=True)
    spare_stream_key_ciphertext = BinaryAttribute(legacy_encoding=False, null=True)
    connected_at = UTCDateTimeAttribute(null=True)


class Playlist(_Item):
    playlist_id = UnicodeAttribute()
    name = UnicodeAttribute()
    media_ids = ListAttribute(of=UnicodeAttribute, default=list)  # play order; repeats allowed
    shuffle = BooleanAttribute(default=False)
    duration_s = NumberAttribute(null=True)  # null until every item's duration is known
    updated_at = UTCDateTimeAttribute(default=utcnow)


class ActiveStreamsIndex(GlobalSecondaryIndex["Stream"]):
    """Sparse: a stream is in it only while active (the watchdog's sweep reads it with one Query)."""

    class Meta:
        index_name = ACTIVE_STREAMS_INDEX
        projection = IncludeProjection(list(ACTIVE_STREAMS_INDEX_PROJECTION))

    active_index_pk = UnicodeAttribute(hash_key=True, attr_name=ACTIVE_STREAMS_INDEX_KEY)


class YouTubeOptions(MapAttribute[str, Any]):
    """How a stream's YouTube broadcasts are made (liveBroadcasts.insert's status and contentDetails)."""

    made_for_kids = BooleanAttribute(default=False)
    latency_preference = UnicodeAttribute(default="normal")  # normal, low, ultraLow
    enable_dvr = BooleanAttribute(default=True)


class BroadcastRef(MapAttribute[str, Any]):
    """A YouTube destination's broadcast for the stream's current run (its video id)."""

    destination_id = UnicodeAttribute()
    broadcast_id = UnicodeAttribute()


class Stream(_Item):
    stream_id = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    privacy = UnicodeAttribute(default="unlisted")
    media_ids = ListAttribute(of=UnicodeAttribute, default=list)
    destination_ids = ListAttribute(of=UnicodeAttribute, default=list)
    # Each destination's type, in the order of destination_ids, as they were at creation (null: all rtmp).
    destination_types = ListAttribute(of=UnicodeAttribute, null=True)
    youtube = YouTubeOptions(null=True)
    # The current run's YouTube broadcasts, written by the start once they are bound (conditional on the run).
    broadcasts = ListAttribute(of=BroadcastRef, null=True)
    playlist_id = UnicodeAttribute(null=True)  # where media_ids were copied from, at creation
    shuffle = BooleanAttribute(default=False)
    loop = BooleanAttribute(default=False)
    loops = NumberAttribute(null=True)  # play the list this many times; null: once, or until stopped if loop
    duration_s = NumberAttribute(null=True)
    handover_after_h = NumberAttribute(default=12)
    status = UnicodeAttribute()
    run_id = UnicodeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    scheduled_start = UTCDateTimeAttribute(null=True)
    task_arn = UnicodeAttribute(null=True)  # written by the task at claim (ECS task ARN; locally its pid)
    active_index_pk = UnicodeAttribute(null=True, attr_name=ACTIVE_STREAMS_INDEX_KEY)
    active_index = ActiveStreamsIndex()


class StreamEvent(_Item):
    stream_id = UnicodeAttribute()
    type = UnicodeAttribute()
    message = UnicodeAttribute(default="")
    run_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(attr_name=TABLE_TTL_ATTRIBUTE)


class DestinationHealth(MapAttribute[str, Any]):
    """One destination in a health item, at the same position as in the stream's `destination_ids` (which
    never change). Short names and no id: the item is written every few seconds and must stay under 1 KB
    with 10 destinations."""

    state = UnicodeAttribute(attr_name="s")  # connecting, live, retrying, failed, stopped
    reason = UnicodeAttribute(attr_name="r", null=True)  # a few words, e.g. "connection refused"
    bytes_sent = NumberAttribute(attr_name="b", default=0)  # over the stream's whole life, every run


class StreamHealthItem(_Item):
    """`pk=USER#<sub>, sk=HEALTH#<stream_id>`: the task's heartbeat, a small item of its own (<= 1 KB, see
    playout.health), so that a beat never rewrites the stream item with its description and playlist.

    The API writes `run_id` and `wanted` (start, stop); the task writes the rest, conditional on its run.
    Usage totals (`spot_s`, `on_demand_s`, each destination's bytes) add up over every run of the stream."""

    run_id = UnicodeAttribute(null=True)
    wanted = UnicodeAttribute(null=True)  # "play" or "stop": what the API asked of the run
    updated_at = UTCDateTimeAttribute(null=True)  # the task's last beat; none yet for a new run
    uptime_s = NumberAttribute(null=True)
    position_s = NumberAttribute(null=True)  # seconds of output this run
    pass_index = NumberAttribute(null=True)  # where a resumed task starts: pass, slot, offset in the item
    slot = NumberAttribute(null=True)
    item_offset_s = NumberAttribute(null=True)
    item_index = NumberAttribute(null=True)
    bitrate_kbps = NumberAttribute(null=True)
    fps = NumberAttribute(null=True)
    capacity = UnicodeAttribute(null=True)  # this run's: spot or on_demand
    spot_s = NumberAttribute(default=0)
    on_demand_s = NumberAttribute(default=0)
    destinations = ListAttribute(of=DestinationHealth, default=list)
    expires_at = TTLAttribute(attr_name=TABLE_TTL_ATTRIBUTE, null=True)


_M = TypeVar("_M", bound=Model)
_I = TypeVar("_I", bound="_Item")


@contextmanager
def reading() -> Iterator[TransactGet]:
    """Items of any kinds read by key in one TransactGetItems (at most 100, consistent): what a request needs
    to know, in one call. IAM checks each item as a GetItem: no other action is needed."""
    with TransactGet(connection=_Item._get_connection().connection) as read:
        yield read


def found(future: _ModelFuture[_M]) -> _M | None:
    """The item a `reading()` block read, or None if there was none."""
    try:
        return future.get()
    except DoesNotExist:
        return None


_BATCH_GET_KEYS = 100  # DynamoDB's most keys in one BatchGetItem


def read_many(wanted: Iterable[tuple[type[_I], str, str]]) -> list[_I]:
    """Items of several kinds by (kind, pk, sk), in one BatchGetItem per 100 distinct keys (eventually
    consistent, like the GetItems it replaces); missing ones are left out, each found one comes back as the
    kind it was asked as. Keys DynamoDB leaves unprocessed (throttling) are asked again."""
    kinds = {(pk, sk): kind for kind, pk, sk in wanted}
    pending = [{TABLE_PARTITION_KEY: pk, TABLE_SORT_KEY: sk} for pk, sk in kinds]
    table = _Item._get_connection()
    items: list[_I] = []
    while pending:
        page, pending = pending[:_BATCH_GET_KEYS], pending[_BATCH_GET_KEYS:]
        answer = table.batch_get_item(page)  # type: ignore[arg-type]  # keys as Model.batch_get sends them
        for raw in answer.get("Responses", {}).get(table.table_name, []):
            key = (raw[TABLE_PARTITION_KEY]["S"], raw[TABLE_SORT_KEY]["S"])
            items.append(kinds[key].from_raw_data(raw))
        unprocessed = answer.get("UnprocessedKeys", {}).get(table.table_name, {}).get("Keys", [])
        pending += [{name: value["S"] for name, value in key.items()} for key in unprocessed]
    return items


def read_range(
    pk: str,
    first_sk: str,
    last_sk: str,
    wanted: Condition,
    kinds: Mapping[str, type[_Item]],
    consistent: bool = False,
) -> list[_Item]:
    """The items of one partition whose sort key is in [first_sk, last_sk] and that `wanted` keeps, by one
    Query (one more per 1 MB read), each as the kind its sort key's prefix names in `kinds`."""
    table = _Item._get_connection()
    items: list[_Item] = []
    start: dict[str, Any] | None = None
    while True:
        answer = table.query(
            pk,
            range_key_condition=_Item.sk.between(first_sk, last_sk),
            filter_condition=wanted,
            exclusive_start_key=start,
            consistent_read=consistent,
        )
        for raw in answer.get("Items", []):
            sort_key = raw[TABLE_SORT_KEY]["S"]
            kind = next(k for prefix, k in kinds.items() if sort_key.startswith(prefix))
            items.append(kind.from_raw_data(raw))
        start = answer.get("LastEvaluatedKey")
        if not start:
            return items


@contextmanager
def writing() -> Iterator[TransactWrite]:
    """One TransactWriteItems. pynamodb sends condition checks, then deletes, then puts, then updates: a
    cancellation's reasons come in that order, whatever order the block added them in."""
    # The models' own connection: bind_table() repoints it, and it is reused across calls.
    with TransactWrite(connection=_Item._get_connection().connection) as transaction:
        yield transaction


ALL_MODELS: tuple[type[_Item], ...] = (
    UserProfile,
    Media,
    UploadReservation,
    Destination,
    Playlist,
    Stream,
    StreamEvent,
    StreamHealthItem,
)


def bind_table(table_name: str, region: str | None = None) -> None:
    """Point every model at one table (tests and local mode pick the name at run time)."""
    models: tuple[type[_Item], ...] = (_Item, *ALL_MODELS, *_Item.__subclasses__())
    for model in models:
        model.Meta.table_name = table_name
        if region:
            model.Meta.region = region
        model._connection = None
    with _SHARING:
        _SHARED_CONNECTIONS.clear()


def _add_indexes(shared: MetaTable, model: MetaTable) -> None:
    """Adds to the shared connection's schema the indexes (and their key attributes) that a model declares."""
    for section, name_key in (
        (GLOBAL_SECONDARY_INDEXES, INDEX_NAME),
        (LOCAL_SECONDARY_INDEXES, INDEX_NAME),
        (ATTR_DEFINITIONS, ATTR_NAME),
    ):
        known = shared.data.setdefault(section, [])
        names = {entry[name_key] for entry in known}
        known.extend(entry for entry in model.data.get(section, []) if entry[name_key] not in names)


class YouTubeQuotaDay(_Item):
    """`pk=YOUTUBE_QUOTA#<project>, sk=DAY#<Pacific date>`: the YouTube API units one Google project spent
    that day (playout.youtube.quota). Not a user's item: every user's channels share their project's quota."""

    used = NumberAttribute(null=True)
    expires_at = TTLAttribute(attr_name=TABLE_TTL_ATTRIBUTE, null=True)

    @classmethod
    def for_day(cls, project: str, day: str) -> YouTubeQuotaDay:
        return cls(f"{YOUTUBE_QUOTA_PREFIX}{project}", f"DAY#{day}")

    @classmethod
    def get_or_none(cls, project: str, day: str) -> YouTubeQuotaDay | None:
        try:
            return cls.get(f"{YOUTUBE_QUOTA_PREFIX}{project}", f"DAY#{day}", consistent_read=True)
        except cls.DoesNotExist:
            return None


class OAuthState(_Item):
    """`pk=OAUTH_STATE#<state>, sk=STATE`: one Google consent round trip in flight (playout.youtube.oauth),
    for the user who started it, with its PKCE verifier; used once, within its 10 minutes."""

    SK = "STATE"

    user_id = UnicodeAttribute()
    code_verifier = UnicodeAttribute()
    # SHA-256 of the nonce in the cookie given to the browser that asked: the callback must come back in it.
    browser_binding = UnicodeAttribute()
    expires_at = TTLAttribute(attr_name=TABLE_TTL_ATTRIBUTE)

    @staticmethod
    def key_of(state: str) -> str:
        return f"OAUTH_STATE#{state}"


class YouTubeBroadcast(_Item):
    """`pk=USER#<sub>, sk=BROADCAST#<stream_id>#<run_id>#<destination_id>#<part>`: one liveBroadcast a run
    made on a YouTube destination (playout.youtube.broadcasts). Claimed (`opening`) before YouTube is
    asked for it, so a retried start never makes a second one; every change after is conditional on the
    state it leaves. `part` counts the broadcasts of one run on one destination: 1 from the start, then one
    more for each broadcast that replaced one YouTube ended or that a rotation made before YouTube's 12-hour
    archive limit (playout.youtube.rotation); the newest bound part is the one the task pushes to."""

    stream_id = UnicodeAttribute()
    run_id = UnicodeAttribute()
    destination_id = UnicodeAttribute()
    part = NumberAttribute(default=1)
    state = UnicodeAttribute()  # opening, created, bound, ending, complete, deleted, failed
    broadcast_id = UnicodeAttribute(null=True)
    live_stream_id = UnicodeAttribute(null=True)
    thumbnail = UnicodeAttribute(null=True)  # setting, set, failed: claimed by one task of the run
    reason = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute(attr_name=TABLE_TTL_ATTRIBUTE, null=True)

    @staticmethod
    def run_prefix(stream_id: str, run_id: str) -> str:
        return f"{BROADCAST_PREFIX}{stream_id}#{run_id}#"

    @classmethod
    def key_of(cls, stream_id: str, run_id: str, destination_id: str, part: int = 1) -> str:
        return f"{cls.run_prefix(stream_id, run_id)}{destination_id}#{part:04d}"
