"""The run's YouTube broadcasts while the engine plays, on a thread of their own (playout.youtube.rotation has
the calls; this has the clock): the thumbnail of each new part, a poll of each current broadcast every
`poll_interval_s` (one liveBroadcasts.list each), a broadcast YouTube ended replaced at once, and a rotation
before YouTube's archive limit through the engine's handover (a `Switch`):

    due (age >= max - window) -> prepared (next part bound to the other liveStream, `ready`)
      -> switched (the engine moved the push at an item boundary, or at a keyframe past max - margin)
      -> the new part polled every `live_poll_s` until live (or `live_wait_s`) -> the old part completed

A resumed task (Spot) finds the newest bound part of each destination and pushes there; an older part still
open (a rotation its predecessor did not finish) is completed once the newest is live. Nothing here blocks the
engine: a YouTube call that fails is logged, reported as an event, and tried again at the next poll.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from playout.destinations import Ingest
from playout.errors import PlayoutError
from playout.models import YouTubeBroadcast, utcnow
from playout.youtube.api import YouTubeCallError
from playout.youtube.broadcasts import Broadcasts, watch_url
from playout.youtube.errors import Next
from playout.youtube.lasting import LastingPolicy
from playout.youtube.quota import YouTubeQuotaExhausted
from playout.youtube.rotation import OnAir, RunBroadcasts, describe_age, rotation_units
from stream_task.engine import Switch
from stream_task.process import Log

REPLACED = "broadcast_replaced"
ROTATED = "broadcast_rotated"
PROBLEM = "youtube"
IDLE_WAKE_S = 30.0  # the longest sleep: a closing keeper is woken anyway


class SwitchBoard(Protocol):
    """What the keeper needs of the engine and its outputs (the runner gives the real ones)."""

    def request_switch(self, switch: Switch) -> None: ...
    def pushing(self, destination_id: str) -> bool: ...


@dataclass
class _Finishing:
    """A destination whose newest part took over: its older parts end once it is live."""

    newest: YouTubeBroadcast
    since: float  # monotonic
    next_poll: float = 0.0


@dataclass
class _Rotation:
    switch: Switch
    parts: dict[str, YouTubeBroadcast]  # destination -> the prepared part
    ages_s: dict[str, float] = field(default_factory=dict)  # destination -> the old part's age at preparing


class BroadcastKeeper:
    def __init__(
        self,
        run: RunBroadcasts,
        policy: LastingPolicy,
        board: SwitchBoard,
        *,
        report: Callable[[str, str], None],
        log: Log,
        on_ingest: Callable[[Ingest], None] = lambda _ingest: None,
        jpeg: Callable[[], bytes | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.run = run
        self.policy = policy
        self._board = board
        self._report = report
        self._log = log
        self._on_ingest = on_ingest  # a new ingest's key, for the redactor
        self._jpeg = jpeg
        self._clock = clock
        self._now = now
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.current: dict[str, YouTubeBroadcast] = {}
        self.live_since: dict[str, datetime] = {}
        self.finishing: dict[str, _Finishing] = {}
        self.rotation: _Rotation | None = None
        self._next_poll = 0.0
        self._next_rotation_try = 0.0
        self._image: bytes | None = None
        self._reported: set[str] = set()
        self.refused: set[str] = set()  # destinations whose grant was refused: kept again once reconnected

    @property
    def broadcasts(self) -> Broadcasts:
        return self.run.broadcasts

    # --- the thread ---

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="youtube-keeper", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def request_close(self) -> None:
        """Stops at the next step, without waiting (a YouTube call in flight finishes first)."""
        self._closing = True
        self._wake.set()

    def close(self, timeout_s: float) -> None:
        """Stops, and waits up to `timeout_s` for a YouTube call in flight."""
        self.request_close()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _serve(self) -> None:
        begun = False
        while not self._closing:
            self._wake.clear()  # before the step: a wake during it is not lost
            try:
                if not begun:
                    self.begin()
                    begun = True
                wait_s = self.step()
            except Exception:  # a database blip, a bug: the keeping goes on, tried again shortly
                self._log.exception("keeping the YouTube broadcasts failed; trying again")
                wait_s = self.policy.live_poll_s
            self._wake.wait(min(max(wait_s, 0.0), IDLE_WAKE_S))

    # --- the steps (the thread calls them; a test may too, with its own clocks) ---

    def begin(self) -> None:
        """What the task finds: half-made parts tidied, each destination's newest part, thumbnails."""
        for problem in self.run.tidy():
            self._problem(problem)
        self.current = self.run.current()
        now = self._clock()
        for newest in self.current.values():
            if self.run.older_open(newest):  # a rotation the last task of the run did not finish
                self.finishing[str(newest.destination_id)] = _Finishing(newest, now)
        self._set_thumbnails()
        self._next_poll = now + self.policy.poll_interval_s

    def step(self) -> float:
        """Does what is due; returns how long until something may be due again."""
        now = self._clock()
        rotation = self.rotation
        if rotation is not None and rotation.switch.done.is_set():
            self._switched(rotation, now)
        for destination_id in list(self.finishing):
            self._finish(destination_id, now)
        if now >= self._next_poll:
            self._poll()
            self._next_poll = now + self.policy.poll_interval_s
        if self.rotation is None and now >= self._next_rotation_try:
            self._maybe_rotate(now)
        return self.next_due(now)

    def next_due(self, now: float) -> float:
        due = [self._next_poll]
        due += [finishing.next_poll for finishing in self.finishing.values()]
        if self.rotation is None:
            due.append(max(self._rotation_due(), self._next_rotation_try))
        return max(0.0, min(due) - now)

    # --- polls and replacements ---

    def _poll(self) -> None:
        for destination_id, item in list(self.current.items()):
            if destination_id in self.refused and not self._reconnected(destination_id):
                continue
            try:
                seen = self.run.observe(item)
            except PlayoutError as error:
                self._unobserved(destination_id, item, error)
                continue
            if seen.live_since is not None:
                self.live_since[destination_id] = seen.live_since
            if seen.ended and self._board.pushing(destination_id):
                self._ended(destination_id, seen)

    def _unobserved(self, destination_id: str, item: YouTubeBroadcast, error: PlayoutError) -> None:
        if isinstance(error, YouTubeCallError) and error.problem.next is Next.RECONNECT:
            # The grant was revoked (the destination is now needs_reconnect): nothing can be asked of YouTube
            # for this channel until it is connected again; the push goes on meanwhile.
            self.refused.add(destination_id)
            self.finishing.pop(destination_id, None)
            self._problem(
                f"YouTube refused the access to destination {destination_id}'s channel ({error.message}); "
                f"its broadcast {item.broadcast_id} is not kept until the channel is connected again"
            )
            return
        self._problem(f"YouTube broadcast {item.broadcast_id} could not be checked: {error.message}")

    def _reconnected(self, destination_id: str) -> bool:
        """A refused channel connected again (one GetItem a poll): its broadcast is kept again, with the new
        grant."""
        if not self.run.reconnected(destination_id):
            return False
        self.refused.discard(destination_id)
        self.run.forget_clients()
        self._report(
            PROBLEM, f"destination {destination_id}'s channel is connected again: its broadcast is kept"
        )
        return True

    def _ended(self, destination_id: str, seen: OnAir) -> None:
        rotation = self.rotation
        if rotation is not None and destination_id in rotation.parts:
            # Its successor is bound and waiting: take it now, at the next keyframe.
            rotation.switch.hurry()
            self._log.info("broadcast ended while its rotation waited: switching now", extra=_ids(seen.item))
            return
        old = seen.item
        if self._closing:
            return  # the run is ending: a new part would outlive it
        try:
            new = self.run.replace(seen)
        except PlayoutError as error:
            self._problem(
                f"YouTube broadcast {old.broadcast_id} ended ({seen.why_ended}) and could not be replaced: "
                f"{error.message}; trying again in {self.policy.poll_interval_s:.0f} s"
            )
            return
        self.current[destination_id] = new
        self.live_since.pop(destination_id, None)
        self.finishing.pop(destination_id, None)
        self._report(
            REPLACED,
            f"YouTube broadcast {old.broadcast_id} on destination {destination_id} ended while the stream "
            f"was on air ({seen.why_ended}); part {new.part} replaces it: {watch_url(str(new.broadcast_id))}",
        )
        self._set_thumbnails()

    # --- rotations ---

    def _age_s(self, destination_id: str) -> float | None:
        since = self.live_since.get(destination_id)
        return (self._now() - since).total_seconds() if since is not None else None

    def _rotatable(self, destination_id: str) -> bool:
        return destination_id not in self.finishing and destination_id not in self.refused

    def _rotation_due(self) -> float:
        """The monotonic time the oldest current broadcast reaches its rotation window (far off if none is
        known to be live)."""
        now = self._clock()
        ages = [a for d in self.current if self._rotatable(d) and (a := self._age_s(d)) is not None]
        if not ages:
            return now + IDLE_WAKE_S
        return now + self.policy.rotate_from_s - max(ages)

    def _maybe_rotate(self, now: float) -> None:
        policy = self.policy
        ages = {d: a for d in self.current if self._rotatable(d) and (a := self._age_s(d)) is not None}
        if not ages or max(ages.values()) < policy.rotate_from_s:
            return
        # The others rotate along if past half their life: one handover for all rather than one each.
        chosen = {
            d: a for d, a in ages.items() if a >= policy.rotate_from_s or a >= policy.broadcast_max_s / 2
        }
        try:
            self.broadcasts.project.ledger().require(
                rotation_units(policy) * len(chosen), f"rotating {len(chosen)} YouTube broadcast(s)"
            )
        except YouTubeQuotaExhausted as error:
            self._rotation_failed(error.message)
            return
        parts: dict[str, YouTubeBroadcast] = {}
        urls: dict[str, str] = {}
        for destination_id in chosen:
            if self._closing:
                break  # the run is ending: a new part would outlive it
            old = self.current[destination_id]
            try:
                new = self.run.prepare_rotation(old)
                ingest = self.run.ingest_of(new)
            except PlayoutError as error:
                self._problem(f"YouTube broadcast {old.broadcast_id} could not be rotated: {error.message}")
                continue
            self._on_ingest(ingest)
            parts[destination_id], urls[destination_id] = new, ingest.url
        if not parts:
            self._rotation_failed("no part could be made")
            return
        force_at = now + policy.rotate_by_s - max(chosen[d] for d in parts)
        switch = Switch(urls, force_at)
        self.rotation = _Rotation(switch, parts, {d: chosen[d] for d in parts})
        self._board.request_switch(switch)
        self._log.info(
            "youtube rotation prepared; at the next item boundary",
            extra={"destinations": sorted(parts), "force_in_s": round(force_at - now, 1)},
        )
        self._set_thumbnails()

    def _rotation_failed(self, why: str) -> None:
        self._problem(
            f"the YouTube broadcast rotation is put off ({why}); trying again in "
            f"{self.policy.poll_interval_s:.0f} s"
        )
        self._next_rotation_try = self._clock() + self.policy.poll_interval_s

    def _switched(self, rotation: _Rotation, now: float) -> None:
        self.rotation = None
        for destination_id, new in rotation.parts.items():
            self.current[destination_id] = new
            self.live_since.pop(destination_id, None)
            self.finishing[destination_id] = _Finishing(new, now)
        self._log.info("youtube rotation: the push moved to the new parts' ingests")

    def _finish(self, destination_id: str, now: float) -> None:
        finishing = self.finishing[destination_id]
        if now < finishing.next_poll:
            return
        newest = finishing.newest
        try:
            seen: OnAir | None = self.run.observe(newest)
        except PlayoutError as error:
            self._unobserved(destination_id, newest, error)
            if destination_id not in self.finishing:
                return
            seen = None
        if seen is not None and seen.live_since is not None:
            self.live_since[destination_id] = seen.live_since
        waited = now - finishing.since
        if not (seen is not None and seen.live) and waited < self.policy.live_wait_s:
            finishing.next_poll = now + self.policy.live_poll_s
            return
        del self.finishing[destination_id]
        older = self.run.older_open(newest)
        live = seen is not None and seen.live
        try:
            problems = self.run.complete_older(
                newest, f"rotated: part {newest.part} took over" + ("" if live else " (not live yet)")
            )
        except PlayoutError as error:
            problems = [error.message]
        for problem in problems:
            self._problem(problem)
        ended = ", ".join(str(item.broadcast_id) for item in older) or "none"
        state = "is live" if live else f"is not live after {waited:.0f} s"
        self._report(
            ROTATED,
            f"destination {destination_id}: part {newest.part}, broadcast {newest.broadcast_id}, {state} "
            f"({watch_url(str(newest.broadcast_id))}); completed: {ended} (each broadcast is rotated before "
            f"{describe_age(self.policy.broadcast_max_s)} on air: YouTube archives only shorter ones)",
        )

    # --- thumbnails ---

    def _set_thumbnails(self) -> None:
        """thumbnails.set on each bound part without one (best effort; the picture is made once)."""
        if self._jpeg is None:
            return
        jpeg = self._jpeg

        def picture() -> bytes | None:
            if self._image is None:
                self._image = jpeg()
            return self._image

        try:
            self.broadcasts.set_thumbnails(self.run.user_id, self.run.stream, picture)
        except Exception:
            self._log.exception("the broadcasts' thumbnail could not be set")

    def _problem(self, text: str) -> None:
        """Logged every time; an event once (a poll that keeps failing says so once, not every minute)."""
        self._log.warning("youtube broadcasts", extra={"problem": text})
        if text not in self._reported:
            self._reported.add(text)
            self._report(PROBLEM, text)


def _ids(item: YouTubeBroadcast) -> dict[str, object]:
    return {"destination_id": item.destination_id, "part": item.part, "broadcast_id": item.broadcast_id}
