"""A stream's health item (`HEALTH#<stream_id>`): what its task reports every few seconds, and what the API
wants of the run (play or stop).

Kept apart from the stream item so that a beat costs one write unit whatever the stream's description or
playlist: at most one write per `MIN_BEAT_INTERVAL_S`, each at most `MAX_ITEM_BYTES` (a unit test holds the
largest possible beat to it). Usage totals live here too, added up over every run of the stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from playout.models import HEALTH_PREFIX, DestinationHealth, StreamHealthItem, user_pk, utcnow

WANT_PLAY, WANT_STOP = "play", "stop"
SPOT, ON_DEMAND = "spot", "on_demand"
CAPACITIES = (SPOT, ON_DEMAND)
MAX_ITEM_BYTES = 1024
MIN_BEAT_INTERVAL_S = 5.0
MAX_REASON_BYTES = 20
# Usage outlives the run; an item whose stream is gone (a delete that failed half-way) goes by itself.
RETENTION = timedelta(days=400)
CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class DestinationReport:
    state: str
    reason: str | None  # a few words (the events carry the whole message)
    bytes_sent: int  # over the stream's life


@dataclass(frozen=True)
class Beat:
    """One heartbeat of a run, as the task measured it."""

    uptime_s: float
    capacity: str
    spot_s: float  # compute seconds over the stream's life, per capacity
    on_demand_s: float
    destinations: list[DestinationReport] = field(default_factory=list)  # in the stream's order
    position_s: float | None = None
    pass_index: int | None = None
    slot: int | None = None
    item_offset_s: float | None = None
    item_index: int | None = None
    bitrate_kbps: float | None = None
    fps: float | None = None


def key_of(user_id: str, stream_id: str) -> tuple[str, str]:
    return user_pk(user_id), HEALTH_PREFIX + stream_id


def _key(user_id: str, stream_id: str) -> StreamHealthItem:
    return StreamHealthItem(*key_of(user_id, stream_id))


def read(user_id: str, stream_id: str, consistent: bool = False) -> StreamHealthItem | None:
    try:
        return StreamHealthItem.get(user_pk(user_id), HEALTH_PREFIX + stream_id, consistent_read=consistent)
    except StreamHealthItem.DoesNotExist:
        return None


def read_many(user_id: str, stream_ids: list[str]) -> dict[str, StreamHealthItem]:
    """The health items of up to 100 streams in one BatchGet, by stream id."""
    keys = [(user_pk(user_id), HEALTH_PREFIX + stream_id) for stream_id in stream_ids]
    return {str(item.sk).removeprefix(HEALTH_PREFIX): item for item in StreamHealthItem.batch_get(keys)}


def delete(user_id: str, stream_id: str) -> None:
    _key(user_id, stream_id).delete()


# --- the API's side, each a part of the transaction that changes the stream's status ---


# What a run reports, forgotten when a new run starts (usage totals stay).
_RUN_ATTRIBUTES = (
    StreamHealthItem.updated_at,
    StreamHealthItem.uptime_s,
    StreamHealthItem.position_s,
    StreamHealthItem.pass_index,
    StreamHealthItem.slot,
    StreamHealthItem.item_offset_s,
    StreamHealthItem.item_index,
    StreamHealthItem.bitrate_kbps,
    StreamHealthItem.fps,
    StreamHealthItem.capacity,
)


def new_run(user_id: str, stream_id: str, run_id: str) -> tuple[StreamHealthItem, list[Action]]:
    """A new run: the previous run's beats no longer count (its task's next beat finds itself superseded),
    its position is forgotten; usage totals stay."""
    return _key(user_id, stream_id), [
        StreamHealthItem.run_id.set(run_id),
        StreamHealthItem.wanted.set(WANT_PLAY),
        StreamHealthItem.expires_at.set(utcnow() + RETENTION),
        *(attribute.remove() for attribute in _RUN_ATTRIBUTES),
    ]


def as_new_run(item: StreamHealthItem | None, user_id: str, stream_id: str, run_id: str) -> StreamHealthItem:
    """`item` (read before the start) as `new_run`'s write leaves it: what the start answers, unread."""
    after = item or _key(user_id, stream_id)
    for attribute in _RUN_ATTRIBUTES:
        attribute.__set__(after, None)
    after.run_id, after.wanted = run_id, WANT_PLAY
    return after


def stop_run(user_id: str, stream_id: str) -> tuple[StreamHealthItem, list[Action]]:
    return _key(user_id, stream_id), [StreamHealthItem.wanted.set(WANT_STOP)]


# --- the task's side ---


def beat(user_id: str, stream_id: str, run_id: str, report: Beat) -> str | None:
    """Writes one beat; returns what the API wants of the run now (`play` or `stop`), or None when the run was
    superseded (the only failed condition). Any other error raises, for the caller to retry."""
    item = _key(user_id, stream_id)
    try:
        item.update(actions=beat_actions(report), condition=StreamHealthItem.run_id == run_id)
    except UpdateError as error:
        if error.cause_response_code == CONDITION_FAILED:
            return None
        raise
    return str(item.wanted or WANT_PLAY)


def beat_actions(report: Beat, now: datetime | None = None) -> list[Action]:
    now = now or utcnow()
    values: list[tuple[Any, Any]] = [
        (StreamHealthItem.updated_at, now),
        (StreamHealthItem.expires_at, now + RETENTION),
        (StreamHealthItem.uptime_s, _number(report.uptime_s, 1)),
        (StreamHealthItem.capacity, report.capacity),
        (StreamHealthItem.spot_s, _number(report.spot_s, 0)),
        (StreamHealthItem.on_demand_s, _number(report.on_demand_s, 0)),
        (
            StreamHealthItem.destinations,
            [
                DestinationHealth(
                    state=d.state,
                    reason=short_reason(d.reason),
                    bytes_sent=d.bytes_sent,
                )
                for d in report.destinations
            ],
        ),
        (StreamHealthItem.position_s, _number(report.position_s, 1)),
        (StreamHealthItem.pass_index, report.pass_index),
        (StreamHealthItem.slot, report.slot),
        (StreamHealthItem.item_offset_s, _number(report.item_offset_s, 3)),
        (StreamHealthItem.item_index, report.item_index),
        (StreamHealthItem.bitrate_kbps, _number(report.bitrate_kbps, 0)),
        (StreamHealthItem.fps, _number(report.fps, 1)),
    ]
    return [attribute.set(value) if value is not None else attribute.remove() for attribute, value in values]


def short_reason(reason: str | None) -> str | None:
    """At most MAX_REASON_BYTES of UTF-8, so that ten destinations keep the item under 1 KB."""
    if not reason:
        return None
    text = " ".join(reason.split())
    while len(text.encode()) > MAX_REASON_BYTES:
        text = text[:-1]
    return text


def _number(value: float | None, digits: int) -> float | int | None:
    if value is None:
        return None
    # Fewer digits are fewer bytes: DynamoDB stores numbers as decimal digits.
    return round(value) if digits == 0 else float(round(Decimal(str(value)), digits))


# --- how big an item is, the way DynamoDB bills it ---


def item_bytes(item: dict[str, Any]) -> int:
    """The size DynamoDB bills for an item given in its wire form (`{"name": {"S": "..."}}`): the UTF-8 length
    of each attribute name plus the size of its value, per the DynamoDB developer guide ("Item sizes and
    formats"). boto3 has no such function; this is the documented rule, written out."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in data)
    raise ValueError(f"unknown DynamoDB type {kind}")
