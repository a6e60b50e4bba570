"""The playout engine: reads the playlist one entry at a time (the next one's reader opened as the last
one's ffmpeg ends), splices the readers into one timeline, paces it in real time and hands every tag to
every output.

Wanted state apart from actual state: `request_stop` only records the wish; the loop acts on it. A reader
that fails or stalls is replaced at the position it reached while the tags read ahead keep the outputs
fed, so a restart usually leaves no gap on air; restarts are capped per window. Outputs are restarted
together (a planned handover) at an item boundary every `handover_after_s`, which keeps every ingest
connection far from FLV's 24.8-day timestamp wrap and gives each part its own session. A `Switch` (from
another thread) moves some outputs to other ingests the same way, at the next item boundary, or at a
keyframe once it is due: a YouTube broadcast's rotation to the channel's other ingest.

Both are decided as the reader reaches the boundary (or keyframe), up to `read_ahead_ms` before it airs, and
made as its first tag goes out: the old connection gets everything before it, the new one starts with it."""

from __future__ import annotations

import enum
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from stream_task.flv import Tag
from stream_task.launch import DIRECT, Launch
from stream_task.outputs import Output, OutputState
from stream_task.playlist import Cursor, Entry
from stream_task.process import Log
from stream_task.reader import ItemReader, Part, ReaderEnd
from stream_task.splice import Splicer, ends_together


class Ending(enum.Enum):
    FINISHED = "finished"  # the playlist (or the length limit) ran out
    STOPPED = "stopped"  # asked to stop
    FAILED = "failed"  # restarts exhausted, or every destination failed for good


@dataclass(frozen=True)
class EngineLimits:
    lead_ms: float = 1000.0  # how far ahead of real time tags go out: the ingest's cushion
    read_ahead_ms: float = 4000.0  # how far ahead readers are read: what a reader restart can hide
    # The first frame waits until this much is read (or all there is, or as long again has passed): a
    # reader that pauses in its first seconds (a slow S3 response, a busy CPU) leaves no hole on air.
    start_cushion_ms: float = 2000.0
    stale_s: float = 10.0  # a reader that gives no tag this long (while wanted) is replaced
    restart_delays_s: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0)
    max_restarts: int = 8  # within restart_window_s; then the stream fails
    restart_window_s: float = 600.0
    handover_after_s: float | None = 12 * 3600.0
    # An item still playing this long after a handover fell due gets it at its next keyframe: however long
    # one file is, no ingest connection comes near FLV's 24.8-day timestamp wrap.
    handover_grace_s: float = 3600.0
    tick_s: float = 0.05  # far inside the 1 s lead; each wake-up costs CPU the whole stream long


@dataclass(frozen=True)
class Played:
    """Where the air stands: the entry on air, seconds into its item, and the output time."""

    entry: Entry
    item_offset_s: float
    output_s: float

    @property
    def cursor(self) -> Cursor:
        c = self.entry.cursor
        return Cursor(c.pass_index, c.slot, self.item_offset_s)


@dataclass
class EngineResult:
    ending: Ending
    reason: str | None = None
    played: Played | None = None
    restarts: int = 0


@dataclass
class _Cut:
    """A handover or switch decided as the reader reached a boundary or keyframe, made as that tag airs."""

    entry: Entry
    planned: bool
    switch: Switch | None
    at_boundary: bool


@dataclass
class _Aired:
    tag: Tag
    entry: Entry
    item_offset_s: float
    cut: _Cut | None = None  # made just before this tag goes out


@dataclass(frozen=True)
class _Upcoming:
    """The entry after the one being read, looked up as that one's ffmpeg ended; its reader opened then."""

    entry: Entry | None  # None: the playlist ends with the entry being read
    reader: ItemReader | None = None


@dataclass
class _Reading:
    entry: Entry
    reader: ItemReader
    part_start_s: float
    first_video_ms: int | None = None
    last_tag_at: float = 0.0
    last_item_offset_s: float = 0.0
    last_keyframe_offset_s: float | None = None


class Switch:
    """Outputs to move to other ingests (`urls` by destination id, keys included) at the next item boundary,
    or at the next keyframe once the monotonic clock passes `force_at` (a YouTube broadcast's rotation:
    stream_task.broadcast_keeper). Asked from another thread; `done` is set once the engine made it."""

    def __init__(self, urls: dict[str, str], force_at: float) -> None:
        self.urls = dict(urls)
        self.force_at = force_at
        self.done = threading.Event()
        self.entry: Entry | None = None  # where it happened
        self.at_boundary = False  # as the entry opened (else at a keyframe inside it)

    def hurry(self) -> None:
        """At the next keyframe, not the next item boundary (the broadcast on air has ended)."""
        self.force_at = 0.0

    def __repr__(self) -> str:
        return f"Switch(destinations={sorted(self.urls)}, force_at={self.force_at:.1f})"  # no URL: keys


class EngineEvents:
    """What the engine tells the run (the runner turns these into events, health and status)."""

    def on_air(self) -> None: ...
    def on_entry(self, entry: Entry) -> None: ...
    def on_restart(self, entry: Entry, reason: str, gap_s: float) -> None: ...
    def on_handover(self, entry: Entry, at_boundary: bool) -> None: ...
    def on_switch(self, entry: Entry, switch: Switch) -> None: ...
    def on_tick(self, played: Played | None) -> None: ...


class Engine:
    def __init__(
        self,
        entries: Iterator[Entry],
        *,
        source: Callable[[Entry], str],
        outputs: Sequence[Output],
        ffmpeg: str,
        redact: Callable[[str], str],
        logger: Log,
        launch: Launch = DIRECT,
        events: EngineEvents | None = None,
        limits: EngineLimits = EngineLimits(),
        clock: Callable[[], float] = time.monotonic,
        not_before: float | None = None,
    ) -> None:
        self._entries = entries
        self._source = source
        self.outputs = list(outputs)
        self._ffmpeg = ffmpeg
        self._launch = launch
        self._redact = redact
        self._log = logger
        self._events = events or EngineEvents()
        self.limits = limits
        self._clock = clock
        self._not_before = not_before
        self._stop_reason: str | None = None
        self.splicer = Splicer()
        self._air: deque[_Aired] = deque()
        self._reading: _Reading | None = None
        self._upcoming: _Upcoming | None = None
        self._exhausted = False
        self._t0: float | None = None
        self._first_read_at: float | None = None
        self._played: Played | None = None
        self._restart_times: deque[float] = deque()
        self.restarts = 0
        self.handovers = 0
        self.aired_frames = 0  # video frames handed to the outputs (the health's fps)
        self.aired_bytes = 0  # audio and video payload handed to the outputs (the health's bitrate)
        self._handover_due: float | None = None
        self._switch: Switch | None = None
        self._cut: _Cut | None = None  # decided, waiting for the next tag read
        self.switches = 0
        self._on_air = False

    # --- wanted state ---

    def request_stop(self, reason: str) -> None:
        """Safe from a signal handler: only records the wish."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def request_switch(self, switch: Switch) -> None:
        """Safe from another thread: the switch replaces any still waiting; the loop makes it."""
        self._switch = switch

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    @property
    def played(self) -> Played | None:
        return self._played

    # --- the loop ---

    def run(self) -> EngineResult:
        try:
            return self._loop()
        finally:
            if self._reading is not None:
                self._reading.reader.close()
                self._reading = None
            if self._upcoming is not None and self._upcoming.reader is not None:
                self._upcoming.reader.close()
            self._upcoming = None

    def _loop(self) -> EngineResult:
        limits = self.limits
        while True:
            if self._stop_reason is not None:
                return self._result(Ending.STOPPED, self._stop_reason)
            failure = self._fill()
            if failure is not None:
                return self._result(Ending.FAILED, failure)
            self._release()
            self._events.on_tick(self._played)
            if self.outputs and all(o.state is OutputState.FAILED for o in self.outputs):
                reasons = "; ".join(f"{o.destination_id}: {o.reason}" for o in self.outputs)
                return self._result(Ending.FAILED, f"every destination failed: {reasons}")
            if self._exhausted and self._reading is None and not self._air:
                return self._result(Ending.FINISHED, None)
            if not self._filling_cushion():
                time.sleep(limits.tick_s)

    def _result(self, ending: Ending, reason: str | None) -> EngineResult:
        return EngineResult(ending, reason, self._played, self.restarts)

    # --- reading ahead ---

    def _ahead_ms(self) -> float:
        if not self._air:
            return 0.0
        return self._air[-1].tag.timestamp_ms - self._elapsed_ms()

    def _elapsed_ms(self) -> float:
        if self._t0 is None:
            return 0.0
        return (self._clock() - self._t0) * 1000.0

    def _fill(self) -> str | None:
        """Reads tags until `read_ahead_ms` are waiting; opens, replaces and retires readers."""
        deadline = time.monotonic() + 0.05
        while self._ahead_ms() < self.limits.read_ahead_ms and time.monotonic() < deadline:
            reading = self._reading
            if reading is None:
                if self._exhausted:
                    return None
                upcoming = self._upcoming or _Upcoming(next(self._entries, None))
                self._upcoming = None
                if upcoming.entry is None:
                    self._exhausted = True
                    self._end_together()
                    return None
                self._open(upcoming.entry, upcoming.entry.start_s, upcoming.reader)
                continue
            if self._upcoming is None and reading.reader.read_out.is_set():
                self._upcoming = self._look_ahead()
            try:
                got = reading.reader.tags.get(timeout=0.01)
            except queue.Empty:
                if self._clock() - reading.last_tag_at > self.limits.stale_s:
                    return self._restart(reading, f"no data from the reader for {self.limits.stale_s:.0f} s")
                return None
            if isinstance(got, ReaderEnd):
                if got.ok:
                    self._reading = None
                    continue
                return self._restart(reading, got.error or f"the reader exited with code {got.returncode}")
            self._take(reading, got)
        return None

    def _end_together(self) -> None:
        """The playlist ran out and its last tags wait to go on air: trim them so that sound and picture
        stop together (a stream whose length limit cuts an item would end with ~2 frames of picture and no
        sound)."""
        keep = ends_together([aired.tag for aired in self._air], self.splicer.frame_ms)
        self._air = deque(aired for aired, kept in zip(self._air, keep, strict=True) if kept)

    def _look_ahead(self) -> _Upcoming:
        """The next entry, its reader opened as the one before's ffmpeg ends rather than once its last tag is
        taken: the seconds still queued then hide the next ffmpeg's start (an S3 request, a busy CPU) on air,
        where it had the read-ahead less the lead alone (3 s)."""
        entry = next(self._entries, None)
        return _Upcoming(entry, None if entry is None else self._reader_for(entry, entry.start_s))

    def _reader_for(self, entry: Entry, start_s: float) -> ItemReader:
        remaining = entry.duration_s - (start_s - entry.start_s)
        item = entry.item
        part = Part(self._source(entry), start_s, max(remaining, 0.001), item.has_audio, item.copy_audio)
        return ItemReader(self._ffmpeg, part, redact=self._redact, logger=self._log, launch=self._launch)

    def _open(self, entry: Entry, start_s: float, reader: ItemReader | None = None) -> None:
        boundary = start_s == entry.start_s and entry.start_s == 0.0
        if boundary:
            self._decide_cut(entry, self._handover_wanted(), self._switch, at_boundary=True)
        reader = reader or self._reader_for(entry, start_s)
        self._reading = _Reading(entry, reader, start_s, last_tag_at=self._clock())
        self.splicer.begin_segment()
        self._events.on_entry(entry)

    def _handover_wanted(self, late_by_s: float = 0.0) -> bool:
        after = self.limits.handover_after_s
        if after is None or self._t0 is None:
            return False
        if self._handover_due is None:
            self._handover_due = self._t0 + after  # the first: `after` from the first frame
        return self._clock() >= self._handover_due + late_by_s

    def _decide_cut(
        self, entry: Entry, planned: bool, switch: Switch | None, *, at_boundary: bool = False
    ) -> None:
        """New ingest connections before the next tag read: every output's (a planned handover), and those a
        switch moves elsewhere."""
        if not planned and switch is None:
            return
        if planned:
            after = self.limits.handover_after_s
            self._handover_due = self._clock() + (after or 0.0)  # the next: `after` from this one
        if switch is not None:
            self._switch = None if self._switch is switch else self._switch
        waiting = self._cut  # a reader that failed before its first tag: one cut for both
        if waiting is not None:
            planned = planned or waiting.planned
            switch = switch or waiting.switch
        self._cut = _Cut(entry, planned, switch, at_boundary)

    def _make_cut(self, cut: _Cut) -> None:
        moved = cut.switch.urls if cut.switch is not None else {}
        for output in self.outputs:
            url = moved.get(output.destination_id)
            if cut.planned or url is not None:
                output.handover(url)
        if cut.planned:
            self.handovers += 1
            self._events.on_handover(cut.entry, cut.at_boundary)
        if cut.switch is not None:
            self.switches += 1
            cut.switch.entry, cut.switch.at_boundary = cut.entry, cut.at_boundary
            cut.switch.done.set()
            self._events.on_switch(cut.entry, cut.switch)

    def _switch_forced(self) -> Switch | None:
        switch = self._switch
        return switch if switch is not None and self._clock() >= switch.force_at else None

    def _take(self, reading: _Reading, tag: Tag) -> None:
        reading.last_tag_at = self._clock()
        if tag.is_media and tag.is_video:
            if reading.first_video_ms is None:
                reading.first_video_ms = tag.timestamp_ms
            offset = reading.part_start_s + (tag.timestamp_ms - reading.first_video_ms) / 1000.0
            reading.last_item_offset_s = offset
            if tag.is_keyframe:
                reading.last_keyframe_offset_s = offset
                planned = self._handover_wanted(self.limits.handover_grace_s)
                self._decide_cut(reading.entry, planned, self._switch_forced())
        for out in self.splicer.feed(tag):
            self._air.append(_Aired(out, reading.entry, reading.last_item_offset_s, self._cut))
            self._cut = None

    def _restart(self, reading: _Reading, reason: str) -> str | None:
        """Replaces a failed reader at the last keyframe it gave; None, or why the stream must fail."""
        reading.reader.close()
        self._reading = None
        now = self._clock()
        window = self.limits.restart_window_s
        while self._restart_times and now - self._restart_times[0] > window:
            self._restart_times.popleft()
        if len(self._restart_times) >= self.limits.max_restarts:
            return f"{reason} ({len(self._restart_times)} restarts in {window / 60:.0f} min, giving up)"
        self._restart_times.append(now)
        self.restarts += 1
        delays = self.limits.restart_delays_s
        delay = delays[min(len(self._restart_times) - 1, len(delays) - 1)]
        gap_s = max(0.0, delay - self._ahead_ms() / 1000.0)
        resume_at = reading.last_keyframe_offset_s
        if resume_at is None:
            resume_at = reading.part_start_s
        self._log.warning(
            "reader restarted", extra={"reason": reason, "resume_at_s": round(resume_at, 3), "delay_s": delay}
        )
        self._events.on_restart(reading.entry, reason, gap_s)
        if delay:
            time.sleep(delay)
        self._open(reading.entry, resume_at)
        return None

    # --- on air ---

    def _filling_cushion(self) -> bool:
        """Before the first frame, while the start cushion fills: the loop reads on without a tick's sleep,
        each of which would add to the start (the reader's queue still paces it, 10 ms at most per wait)."""
        if self._t0 is not None or not self._air or self._ahead_ms() >= self.limits.read_ahead_ms:
            return False
        return self._not_before is None or self._clock() >= self._not_before

    def _cushioned(self, now: float) -> bool:
        """Whether the first frame may go: `start_cushion_ms` of media read, or all there is, or a reader
        that took as long as the cushion to read it (slower than real time, it gains nothing by a wait)."""
        if self._first_read_at is None:
            self._first_read_at = now
        cushion_ms = self.limits.start_cushion_ms
        read_ms = self._air[-1].tag.timestamp_ms - self._air[0].tag.timestamp_ms
        waited_ms = (now - self._first_read_at) * 1000.0
        return read_ms >= cushion_ms or self._exhausted or waited_ms >= cushion_ms

    def _release(self) -> None:
        if not self._air:
            return
        now = self._clock()
        if self._t0 is None:
            if self._not_before is not None and now < self._not_before:
                return  # staged and read ahead; the first frame waits for the scheduled time
            if not self._cushioned(now):
                return
            self._t0 = now
        elapsed = (now - self._t0) * 1000.0
        head = self._air[0].tag.timestamp_ms
        if head < elapsed - 2 * self.limits.lead_ms:
            # The readers fell behind real time (a stall): go on from here rather than burst the backlog.
            self._t0 = now - head / 1000.0
            elapsed = head
        horizon = elapsed + self.limits.lead_ms
        sent = False
        while self._air and self._air[0].tag.timestamp_ms <= horizon:
            aired = self._air.popleft()
            if aired.cut is not None:
                self._make_cut(aired.cut)
            for output in self.outputs:
                output.send(aired.tag)
            sent = True
            self.aired_bytes += len(aired.tag.body)
            if aired.tag.is_video and aired.tag.is_media:
                self.aired_frames += 1
                self._played = Played(aired.entry, aired.item_offset_s, aired.tag.timestamp_ms / 1000.0)
        if sent and not self._on_air:
            self._on_air = True
            self._events.on_air()
