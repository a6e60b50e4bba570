"""Broadcasts that last (issue 7, point 3): what the stream task does with its run's YouTube broadcasts while
it plays, one part after another on each YouTube destination (`BROADCAST#...#<destination>#<part>` items).

- **Replaced.** YouTube can end a broadcast while data still arrives (a moderator, a policy, its own limits):
  the stream then plays to nobody. The task asks about each current broadcast every `poll_interval_s`
  (liveBroadcasts.list by id, 1 unit) and replaces one that ended, or was deleted, by the next part: a new
  broadcast bound to the same reusable liveStream, which goes live by itself (auto-start) as data keeps
  arriving. The stream's watch URL follows, and an event says why.
- **Rotated.** YouTube archives a broadcast only if it lasted under 12 hours (at most 11 h 55 min kept). Each
  broadcast is rotated before `broadcast_max_s`: from `broadcast_max_s - window_s` on, the next part is made
  in advance and bound to the channel's *other* reusable liveStream (main/spare: A/B, both made at the
  channel's first start), whose ingest receives
  nothing yet, so the new broadcast waits `ready`; the engine's planned handover moves the push from ingest A
  to ingest B at the next item boundary (at a keyframe once `broadcast_max_s - margin_s` is near); the new
  broadcast goes live by itself, and only then is the old one (live, fed no more) completed. Two
  liveStreams because each broadcast is bound to exactly one: a broadcast on the other ingest can be made
  and bound in advance, and can go live while the old one is still live, on YouTube's own clock. Each part
  then archives as a video of its own.

Costs per day of a 24/7 stream, from COST_UNITS: `daily_units()`, stated in docs/contracts.md and held by
tests/integration/test_youtube_lasting.py against the ledger of a simulated day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from pynamodb.exceptions import UpdateError

from playout.destinations import Ingest, resolve_ingest
from playout.errors import InvalidState
from playout.models import BroadcastRef, Stream, YouTubeBroadcast
from playout.youtube.api import YouTubeApi
from playout.youtube.broadcasts import (
    BOUND,
    COMPLETE,
    CONDITION_FAILED,
    CREATED,
    END_CALLS,
    OPEN_STATES,
    OPENING,
    Broadcasts,
    load_destination,
    run_items,
    settle,
    units_of,
)
from playout.youtube.channels import NEEDS_RECONNECT
from playout.youtube.lasting import LastingPolicy
from playout.youtube.quota import COST_UNITS, YouTubeCall

DAY_S: Final = 24 * 3600
GONE: Final = "gone"  # no such broadcast any more (deleted on YouTube)
ENDED_LIFE_CYCLES: Final = frozenset({"complete", "revoked", GONE})

# A part's calls: made and bound (+ its thumbnail); the old part's end after a rotation (list + transition).
PART_CALLS: Final = (YouTubeCall.BROADCASTS_INSERT, YouTubeCall.BROADCASTS_BIND, YouTubeCall.THUMBNAILS_SET)


@dataclass(frozen=True)
class DailyUnits:
    """A 24/7 stream's YouTube units per day on one channel, at most (quota costs: COST_UNITS)."""

    polls: int  # liveBroadcasts.list of the current broadcast
    rotations: int  # a broadcast lasts at least `rotate_from_s`
    per_rotation: (
        int  # the new part (insert, bind, thumbnail), its go-live polls, the old part's list + transition
    )

    @property
    def total(self) -> int:
        return self.polls * COST_UNITS[YouTubeCall.BROADCASTS_LIST] + self.rotations * self.per_rotation


def rotation_units(policy: LastingPolicy) -> int:
    return (
        units_of(PART_CALLS)
        + policy.live_polls * COST_UNITS[YouTubeCall.BROADCASTS_LIST]
        + units_of(END_CALLS)
    )


def daily_units(policy: LastingPolicy | None = None) -> DailyUnits:
    """The bound docs/contracts.md states: every poll of a day, and as many rotations as a day can hold when
    each broadcast is rotated as early as its window allows. A broadcast YouTube ends is replaced on top of
    this (units_of(PART_CALLS) each, when it happens); `policy` None: the defaults."""
    policy = policy or LastingPolicy()
    return DailyUnits(
        polls=math.ceil(DAY_S / policy.poll_interval_s),
        rotations=math.ceil(DAY_S / policy.rotate_from_s),
        per_rotation=rotation_units(policy),
    )


@dataclass(frozen=True)
class OnAir:
    """What liveBroadcasts.list says of one of the run's broadcasts."""

    item: YouTubeBroadcast
    life_cycle: str  # YouTube's lifeCycleStatus, or GONE
    live_since: datetime | None  # snippet.actualStartTime: when it went live

    @property
    def ended(self) -> bool:
        return self.life_cycle in ENDED_LIFE_CYCLES

    @property
    def live(self) -> bool:
        return self.life_cycle == "live"

    @property
    def why_ended(self) -> str:
        if self.life_cycle == GONE:
            return "it was deleted on YouTube"
        return f"YouTube ended it ({self.life_cycle})"


@dataclass
class RunBroadcasts:
    """One run's YouTube broadcasts, part after part, as its stream task keeps them (on one thread: it keeps
    a YouTube client per channel, and httplib2 is not thread-safe)."""

    broadcasts: Broadcasts
    user_id: str
    stream: Stream
    _apis: dict[str, YouTubeApi] = field(default_factory=dict, init=False, repr=False)

    @property
    def run_id(self) -> str:
        return str(self.stream.run_id)

    def items(self) -> list[YouTubeBroadcast]:
        return run_items(self.user_id, self.stream.stream_id, self.run_id)

    def current(self) -> dict[str, YouTubeBroadcast]:
        """Each destination's newest bound part: the one the task pushes to (one Query)."""
        newest: dict[str, YouTubeBroadcast] = {}
        for item in self.items():
            destination = str(item.destination_id)
            if item.state == BOUND and (destination not in newest or item.part > newest[destination].part):
                newest[destination] = item
        return newest

    def older_open(self, newest: YouTubeBroadcast) -> list[YouTubeBroadcast]:
        """The parts before `newest` on its destination that are still open (a rotation not finished)."""
        return [
            item
            for item in self.items()
            if item.destination_id == newest.destination_id
            and item.part < newest.part
            and item.state in OPEN_STATES
        ]

    def next_part(self, destination_id: str) -> int:
        """The number of the destination's next part: after every part claimed so far, failed ones included
        (a claim is never reused)."""
        parts = [int(item.part) for item in self.items() if item.destination_id == destination_id]
        return max(parts, default=0) + 1

    def tidy(self) -> list[str]:
        """What an interrupted task left half made (a resumed run's task, first thing): a claim YouTube never
        answered is failed, a broadcast made but never bound deleted. Returns the problems met."""
        problems = []
        for item in self.items():
            if item.state == OPENING:
                settle(item, OPENING, "failed", "the task making it was interrupted")
            elif item.state == CREATED:
                problem = self.broadcasts.end_part(
                    self.user_id, item, reason="the task binding it was interrupted"
                )
                if problem:
                    problems.append(problem)
        return problems

    def ingest_of(self, item: YouTubeBroadcast) -> Ingest:
        """Where data must go for `item` to be on air: the ingest of the liveStream it is bound to."""
        return resolve_ingest(self.user_id, str(item.destination_id), str(item.live_stream_id or "") or None)

    # --- YouTube ---

    def observe(self, item: YouTubeBroadcast) -> OnAir:
        """liveBroadcasts.list of one broadcast (1 unit)."""
        api = self._api(str(item.destination_id))
        answer = api.execute(
            YouTubeCall.BROADCASTS_LIST,
            api.service.liveBroadcasts().list(part="id,snippet,status", id=str(item.broadcast_id)),
        )
        found = answer.get("items") or []
        if not found:
            return OnAir(item, GONE, None)
        started = (found[0].get("snippet") or {}).get("actualStartTime")
        live_since = datetime.fromisoformat(str(started).replace("Z", "+00:00")) if started else None
        return OnAir(item, str(found[0]["status"]["lifeCycleStatus"]), live_since)

    def replace(self, ended: OnAir) -> YouTubeBroadcast:
        """The next part for a broadcast YouTube ended: made and bound to the same liveStream (data already
        arrives there: it goes live by itself), then the ended part settled and the watch URL moved."""
        item = ended.item
        destination = load_destination(self.user_id, str(item.destination_id))
        spare = bool(item.live_stream_id) and item.live_stream_id == destination.spare_live_stream_id
        new = self.broadcasts.open_part(
            self.user_id,
            self.stream,
            destination,
            part=self.next_part(str(item.destination_id)),
            spare=spare,
            reason=f"replaces broadcast {item.broadcast_id}: {ended.why_ended}",
        )
        settle(item, BOUND, COMPLETE, ended.why_ended)
        self.point_watch_url(str(item.destination_id), str(new.broadcast_id))
        return new

    def prepare_rotation(self, item: YouTubeBroadcast) -> YouTubeBroadcast:
        """The part after `item`, made and bound to the channel's other reusable liveStream (the start made
        both), where nothing arrives yet: it waits `ready` for the handover."""
        destination = load_destination(self.user_id, str(item.destination_id))
        on_spare = bool(item.live_stream_id) and item.live_stream_id == destination.spare_live_stream_id
        return self.broadcasts.open_part(
            self.user_id,
            self.stream,
            destination,
            part=self.next_part(str(item.destination_id)),
            spare=not on_spare,
            reason=f"rotation of broadcast {item.broadcast_id}",
        )

    def complete_older(self, newest: YouTubeBroadcast, reason: str) -> list[str]:
        """Completes the parts before `newest` on its destination (list + transition each, or a delete for
        one that never went live), then moves the watch URL to `newest`. Returns the problems met."""
        problems = []
        for item in self.older_open(newest):
            problem = self.broadcasts.end_part(self.user_id, item, reason=reason)
            if problem:
                problems.append(problem)
        self.point_watch_url(str(newest.destination_id), str(newest.broadcast_id))
        return problems

    def point_watch_url(self, destination_id: str, broadcast_id: str) -> None:
        """The stream's `broadcasts` (its watch URLs) with `destination_id`'s now `broadcast_id`, conditional
        on the run (a key-only item: the task's own Stream object is not touched from this thread)."""
        refs = [
            BroadcastRef(
                destination_id=str(ref.destination_id),
                broadcast_id=broadcast_id if ref.destination_id == destination_id else str(ref.broadcast_id),
            )
            for ref in self.stream.broadcasts or []
        ]
        try:
            Stream(self.stream.pk, self.stream.sk).update(
                actions=[Stream.broadcasts.set(refs)], condition=Stream.run_id == self.stream.run_id
            )
        except UpdateError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise
            raise InvalidState(f"stream {self.stream.stream_id} was started again meanwhile") from None
        self.stream.broadcasts = refs

    def _api(self, destination_id: str) -> YouTubeApi:
        api = self._apis.get(destination_id)
        if api is None:
            api = self.broadcasts.api_for(self.user_id, load_destination(self.user_id, destination_id))
            self._apis[destination_id] = api
        return api

    def reconnected(self, destination_id: str) -> bool:
        """Whether a channel whose grant was refused has been connected again."""
        return load_destination(self.user_id, destination_id).state != NEEDS_RECONNECT

    def forget_clients(self) -> None:
        """After a refused grant or a reconnect: the next call builds each channel's client again."""
        self._apis.clear()


def age_of(on_air: OnAir, now: datetime) -> timedelta | None:
    return now - on_air.live_since if on_air.live_since is not None else None


def describe_age(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"
