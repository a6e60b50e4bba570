"""Broadcasts that last, without the engine: the stream task's broadcast keeper (stream_task.broadcast_keeper)
against the emulator in this process and moto, on a clock the test turns. What the engine and the ingest do
is simulated: data flows to one liveStream's stream name at a time (the emulator is told, as nginx tells it),
and a switch the keeper asks for happens at the next item boundary (every ITEM_S), as the engine makes it.

A broadcast YouTube ends is replaced; a long run rotates its broadcasts from one reusable liveStream to the
other, each new part live before the old one completes; a task that resumes a run mid-rotation finishes it;
and a simulated day of a 24/7 stream costs what docs/contracts.md says, measured by the ledger."""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.youtube_emulator import RunningEmulator, running_youtube_emulator
from local.youtube_emulator.app import solid_png
from local.youtube_emulator.live import LiveStudio
from playout import crypto
from playout.destinations import SPARE_STREAM_KEY_PURPOSE, get_destination
from playout.models import YouTubeBroadcast
from playout.settings import YouTubeSettings
from playout.streams import get_stream
from playout.youtube.broadcasts import Broadcasts
from playout.youtube.endpoints import CALLBACK_PATH
from playout.youtube.google import GoogleProject
from playout.youtube.lasting import LastingPolicy
from playout.youtube.quota import COST_UNITS, PACIFIC, YouTubeCall
from playout.youtube.rotation import RunBroadcasts, daily_units
from stream_task.broadcast_keeper import REPLACED, ROTATED, BroadcastKeeper
from stream_task.engine import Switch
from tests.integration.conftest import ApiClient
from tests.integration.youtube_world import (
    APP_ORIGIN,
    connect_channel,
    control,
    new_stream,
)

ITEM_S = 1200.0  # the simulated playlist's items: 20 minutes each
STARTING_DELAY_S = 2.0  # YouTube's liveStarting, on the simulated clock
LIST = COST_UNITS[YouTubeCall.BROADCASTS_LIST]
PART = sum(
    COST_UNITS[c]
    for c in (YouTubeCall.BROADCASTS_INSERT, YouTubeCall.BROADCASTS_BIND, YouTubeCall.THUMBNAILS_SET)
)


@dataclass
class Clock:
    """The simulated time: the emulator's epoch seconds, the keeper's monotonic and UTC clocks, the ledger's
    day."""

    t: float

    def epoch(self) -> float:
        return self.t

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(datetime.now(UTC).timestamp())


@pytest.fixture(scope="module")
def emulator(clock: Clock) -> Iterator[RunningEmulator]:
    with running_youtube_emulator(
        redirect_uris=[APP_ORIGIN + CALLBACK_PATH],
        starting_delay_s=STARTING_DELAY_S,
        clock=clock.epoch,
        access_token_lifetime_s=3600,
    ) as running:
        yield running


@dataclass
class Ingest:
    """The engine and the ingest as the keeper sees them: each destination's data goes to one stream name;
    a switch is made at the next item boundary, or at once when it is due (`force_at`)."""

    studio: LiveStudio
    clock: Clock
    pushing_to: dict[str, str] = field(default_factory=dict)  # destination -> stream name
    pending: Switch | None = None
    switches: list[float] = field(default_factory=list)

    def push(self, destination_id: str, stream_name: str) -> None:
        self.pushing_to[destination_id] = stream_name
        self.studio.publish_started(stream_name, destination_id)

    # --- SwitchBoard ---

    def request_switch(self, switch: Switch) -> None:
        self.pending = switch

    def pushing(self, destination_id: str) -> bool:
        return destination_id in self.pushing_to

    # --- the engine's side ---

    def next_boundary(self) -> float:
        """The next item boundary, now if the clock is at one."""
        return math.ceil(self.clock.t / ITEM_S) * ITEM_S

    def switch_due_at(self) -> float | None:
        if self.pending is None:
            return None
        return min(self.next_boundary(), max(self.pending.force_at, self.clock.t))

    def make_due_switch(self) -> None:
        due = self.switch_due_at()
        if self.pending is None or due is None or self.clock.t < due:
            return
        for destination_id, url in self.pending.urls.items():
            old = self.pushing_to[destination_id]
            self.studio.publish_ended(old, destination_id)
            self.push(destination_id, url.rsplit("/", 1)[1])
        self.pending.done.set()
        self.pending = None
        self.switches.append(self.clock.t)


@dataclass
class Run:
    """A started stream, its keeper and what the keeper reported."""

    client: ApiClient
    stream_id: str
    destination_ids: list[str]
    keeper: BroadcastKeeper
    ingest: Ingest
    events: list[tuple[str, str]]

    def items(self) -> list[YouTubeBroadcast]:
        return self.keeper.run.items()


def start_run(
    client: ApiClient,
    google: RunningEmulator,
    clock: Clock,
    policy: LastingPolicy,
    destination_ids: list[str],
) -> Run:
    """A stream started through the API (its first parts made and bound), its task's keeper, and data
    flowing to each destination's ingest from now on."""
    stream = new_stream(client, destination_ids, loop=True)
    started = client.post(f"/api/streams/{stream['stream_id']}/start")
    assert started.status == 202, started.text
    item = get_stream(str(client.user_id), stream["stream_id"], consistent=True)
    project = GoogleProject(YouTubeSettings(), clock=clock.utc)  # the task's, on the simulated clock
    run = RunBroadcasts(
        Broadcasts(project, allow_loopback_ingests=True, makes_live_streams=False), str(client.user_id), item
    )
    ingest = Ingest(google.app.studio, clock)
    for destination_id, part in run.current().items():
        ingest.push(destination_id, run.ingest_of(part).stream_key)
    events: list[tuple[str, str]] = []
    keeper = BroadcastKeeper(
        run,
        policy,
        ingest,
        report=lambda kind, text: events.append((kind, text)),
        log=_Log(),
        jpeg=lambda: solid_png(160, 90, (0, 90, 200)),
        clock=clock.epoch,
        now=clock.utc,
    )
    keeper.begin()
    return Run(client, stream["stream_id"], destination_ids, keeper, ingest, events)


def play_until(run: Run, clock: Clock, until: float) -> None:
    """The keeper's thread, the engine and YouTube's own clock, step by step on the simulated clock."""
    studio = run.ingest.studio
    while clock.t < until:
        wait = run.keeper.step()
        target = min(clock.t + max(wait, 0.5), until)
        due = run.ingest.switch_due_at()
        if due is not None:
            target = min(target, max(due, clock.t))
        clock.t = target
        run.ingest.make_due_switch()
        studio.tick()


class _Log:
    """The task's log, quiet; an exception it would log fails the test."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def warning(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def error(self, msg: object, *args: object, **kwargs: Any) -> None: ...

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        raise AssertionError(msg)


def ledger_units(day: datetime) -> int:
    """The units Playout's ledger counted on `day` (the project's, as the API and the tasks share it)."""
    return GoogleProject(YouTubeSettings(), clock=lambda: day).ledger().today().used


def pacific(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=PACIFIC).astimezone(UTC)


@pytest.fixture
def alice(google: RunningEmulator) -> ApiClient:
    return ApiClient(f"alice-{uuid.uuid4()}", "alice@example.com")


def test_a_broadcast_youtube_ends_while_the_stream_pushes_is_replaced_with_an_event(
    alice: ApiClient, google: RunningEmulator, clock: Clock
) -> None:
    _, destination = connect_channel(alice, google)
    policy = LastingPolicy(poll_interval_s=60)
    run = start_run(alice, google, clock, policy, [destination["destination_id"]])
    play_until(run, clock, clock.t + 90)
    [first] = run.items()
    assert google.app.studio.broadcast(str(first.broadcast_id)).life_cycle.value == "live"

    control(google, "POST", f"/broadcasts/{first.broadcast_id}/end")  # YouTube ends it; data still arrives
    ledger_before = ledger_units(clock.utc())
    play_until(run, clock, clock.t + 61)

    [old, new] = sorted(run.items(), key=lambda item: int(item.part))
    assert (old.state, old.reason) == ("complete", "YouTube ended it (complete)")
    assert (new.part, new.state, new.live_stream_id) == (2, "bound", first.live_stream_id)  # the same ingest
    play_until(run, clock, clock.t + STARTING_DELAY_S + 1)
    assert google.app.studio.broadcast(str(new.broadcast_id)).life_cycle.value == "live"  # by auto-start
    [(_kind, text)] = [event for event in run.events if event[0] == REPLACED]
    assert f"broadcast {first.broadcast_id}" in text
    assert "YouTube ended it" in text
    assert str(new.broadcast_id) in text
    shown = alice.get(f"/api/streams/{run.stream_id}").json()
    assert shown["watch_url"] == f"https://www.youtube.com/watch?v={new.broadcast_id}"
    # One poll saw it (1), the next part was made, bound and given its thumbnail (150).
    assert ledger_units(clock.utc()) - ledger_before == LIST + PART


def test_a_long_run_rotates_its_broadcast_between_two_ingests_each_live_before_the_last_completes(
    alice: ApiClient, google: RunningEmulator, clock: Clock
) -> None:
    _, destination = connect_channel(alice, google)
    destination_id = destination["destination_id"]
    policy = LastingPolicy(poll_interval_s=60)
    run = start_run(alice, google, clock, policy, [destination_id])
    began = clock.t

    play_until(run, clock, began + 23 * 3600)  # 23 hours on air

    parts = sorted(run.items(), key=lambda item: int(item.part))
    assert len(parts) == 3, [(p.part, p.state) for p in parts]  # each lived about 11 h: 3 parts in 23 h
    assert [p.state for p in parts] == ["complete"] * 2 + ["bound"]
    item = get_destination(str(alice.user_id), destination_id)
    main, spare = item.live_stream_id, item.spare_live_stream_id
    assert spare is not None
    assert spare != main
    assert [p.live_stream_id for p in parts] == [main, spare, main]  # A, B, A again
    assert item.spare_stream_key_ciphertext is not None
    studio = google.app.studio
    for old, new in itertools.pairwise(parts):
        before, after = studio.broadcast(str(old.broadcast_id)), studio.broadcast(str(new.broadcast_id))
        assert before.actual_start is not None
        assert before.actual_end is not None
        assert after.actual_start is not None
        # The new part went live before the old one completed, each under YouTube's archive limit.
        assert after.actual_start <= before.actual_end
        lived_s = before.actual_end - before.actual_start
        assert policy.rotate_from_s <= lived_s < policy.broadcast_max_s
        assert not before.archive_dropped
        assert old.reason is not None
        assert old.reason.startswith(f"rotated: part {new.part} took over")
    # Every switch came at an item boundary (none had to be forced inside an item).
    assert [t % ITEM_S for t in run.ingest.switches] == [0.0] * 2
    assert len([e for e in run.events if e[0] == ROTATED]) == 2
    shown = alice.get(f"/api/streams/{run.stream_id}").json()
    assert shown["watch_url"].endswith(str(parts[-1].broadcast_id))
    # The channel's two liveStreams were made by the start (none by the task), the spare's key kept apart.
    assert len(studio.streams(studio.channel(google.channel.channel_id), None)) == 2
    spare_key = crypto.decrypt(
        bytes(item.spare_stream_key_ciphertext),
        str(alice.user_id),
        destination_id,
        purpose=SPARE_STREAM_KEY_PURPOSE,
    )
    spare_stream, main_stream = studio.stream(str(spare)), studio.stream(str(main))
    assert spare_stream is not None
    assert main_stream is not None
    assert spare_key == spare_stream.stream_name
    assert run.ingest.pushing_to[destination_id] == main_stream.stream_name  # back on A: where part 3 is


def test_a_task_that_resumes_a_run_mid_rotation_pushes_to_the_new_part_and_completes_the_old(
    alice: ApiClient, google: RunningEmulator, clock: Clock
) -> None:
    _, destination = connect_channel(alice, google)
    policy = LastingPolicy(poll_interval_s=60)
    run = start_run(alice, google, clock, policy, [destination["destination_id"]])
    play_until(run, clock, clock.t + 30)
    [first] = run.items()
    second = run.keeper.run.prepare_rotation(first)  # the old task made the next part, then was stopped

    # The next task of the run: the newest bound part is where it pushes.
    resumed = start_keeper(run, clock, policy)
    current = resumed.run.current()
    assert current[destination["destination_id"]].part == 2
    ingest = resumed.run.ingest_of(second)
    google.app.studio.publish_ended(run.ingest.pushing_to[destination["destination_id"]], "old task")
    run.ingest.push(destination["destination_id"], ingest.stream_key)
    resumed.begin()
    run.keeper = resumed
    play_until(run, clock, clock.t + STARTING_DELAY_S + policy.live_poll_s * 2)

    states = {int(item.part): item.state for item in run.items()}
    assert states == {1: "complete", 2: "bound"}
    assert google.app.studio.broadcast(str(second.broadcast_id)).life_cycle.value == "live"
    assert google.app.studio.broadcast(str(first.broadcast_id)).life_cycle.value == "complete"


def start_keeper(run: Run, clock: Clock, policy: LastingPolicy) -> BroadcastKeeper:
    item = get_stream(str(run.client.user_id), run.stream_id, consistent=True)
    project = GoogleProject(YouTubeSettings(), clock=clock.utc)
    return BroadcastKeeper(
        RunBroadcasts(
            Broadcasts(project, allow_loopback_ingests=True, makes_live_streams=False),
            str(run.client.user_id),
            item,
        ),
        policy,
        run.ingest,
        report=lambda kind, text: run.events.append((kind, text)),
        log=_Log(),
        clock=clock.epoch,
        now=clock.utc,
    )


def test_a_simulated_day_of_a_24_7_stream_costs_the_units_the_docs_state(
    alice: ApiClient, google: RunningEmulator, clock: Clock
) -> None:
    _, destination = connect_channel(alice, google)
    policy = LastingPolicy()  # production's: a poll a minute, rotations before 11 h 55 min
    # On air since the evening before the day measured: a stream in its steady state, rotating.
    day = pacific(2031, 3, 5)
    clock.t = (day - timedelta(hours=6)).timestamp()
    run = start_run(alice, google, clock, policy, [destination["destination_id"]])

    play_until(run, clock, (day + timedelta(hours=24) - timedelta(seconds=1)).timestamp())

    used = ledger_units(day)
    polls = math.ceil(24 * 3600 / policy.poll_interval_s)
    bound = daily_units(policy)
    rotations = len(run.ingest.switches)
    print(f"\nunits of a day of a 24/7 stream on one channel: {used} ({rotations} rotations)")
    print(f"the bound docs/contracts.md states: {bound.total}")
    assert rotations == 2  # rotated at about 05:00 and 16:00
    # Each poll (1), and per rotation: the new part (150), 2 lists while it goes live, the old one's end (51).
    assert polls - 1 <= used - rotations * (PART + 2 * LIST + 51) <= polls + 1
    assert used <= bound.total
    assert bound.total == 1440 + 3 * (150 + 30 + 51)
    youtube_says = google.app.ledger.report(google.client.project)["used"]
    assert youtube_says == used  # YouTube's own count of the day (the emulator's ledger) agrees
