"""Weeks on air, on a shortened clock: the engine hands the ingest connection over to a new ffmpeg every
`handover_after_s` (12 h in production, seconds here) at an item boundary, or at a keyframe when one item
outlasts its grace, so no connection's FLV timestamps come near their 24.8-day wrap. Each handover is
measured at a real nginx-rtmp: a new publish (nginx starts the recording again from 0) and the time the
ingest went without data."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from local.task_image import engine_ffmpeg
from stream_task.engine import Ending, Engine, EngineEvents, EngineLimits, Switch
from stream_task.outputs import Output
from stream_task.playlist import Entry, Item, PlayOrder
from stream_task.redact import Redactor
from tests.e2e.conftest import RtmpSink, make_clip, record_figure
from tests.e2e.gaps import RecordingWatch
from tests.media_probe import probe

log = logging.getLogger("handover-test")


def _clip(path: Path, seconds: float) -> Path:
    # A keyframe every second: a handover inside an item waits at most that long.
    return make_clip(path, seconds, tone_hz=330, size="320x180", gop=30, preset="ultrafast")


@dataclass
class Watch:
    """Samples a recording's size: nginx truncates it when a new publish of the same name starts."""

    path: Path
    publishes: int = 0
    gaps_s: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        size, grew_at, dropped_at = 0, time.monotonic(), None
        while not self._stop.wait(0.02):
            now = time.monotonic()
            current = self.path.stat().st_size if self.path.exists() else 0
            if current < size:
                self.publishes += 1
                dropped_at = grew_at
            if current > size and dropped_at is not None:
                self.gaps_s.append(now - dropped_at)
                dropped_at = None
            if current > size:
                grew_at = now
            size = current

    def stop(self) -> None:
        self._stop.set()


class Handovers(EngineEvents):
    def __init__(self) -> None:
        self.at: list[tuple[int, bool]] = []  # (item index, at the item's start)

    def on_handover(self, entry: Entry, at_boundary: bool) -> None:
        self.at.append((entry.item_index, at_boundary))


def _play(
    sink: RtmpSink, key: str, items: list[tuple[Path, float]], limits: EngineLimits, seconds: float
) -> tuple[Engine, Handovers, Watch]:
    order = PlayOrder([Item(str(path), duration) for path, duration in items], passes=None)
    redact = Redactor()
    output = Output("dst_sink", f"{sink.url}/{key}", ffmpeg=engine_ffmpeg(), redact=redact, logger=log)
    events = Handovers()
    engine = Engine(
        order.entries(limit_s=seconds),
        source=lambda entry: entry.item.media_id,
        outputs=[output],
        ffmpeg=engine_ffmpeg(),
        redact=redact,
        logger=log,  # type: ignore[arg-type]
        events=events,
        limits=limits,
    )
    watch = Watch(sink.recording(key))
    watcher = threading.Thread(target=watch.run, daemon=True)
    watcher.start()
    try:
        result = engine.run()
    finally:
        output.close(5)
        time.sleep(0.5)
        watch.stop()
        watcher.join(timeout=5)
    assert result.ending is Ending.FINISHED, result.reason
    return engine, events, watch


@pytest.mark.xdist_group("handover")
def test_handovers_come_at_item_boundaries_on_time_with_a_short_gap(
    rtmp_sink: RtmpSink, tmp_path: Path, figures: dict[str, float]
) -> None:
    clips = [(_clip(tmp_path / f"c{i}.mp4", 4), 4.0) for i in range(3)]
    engine, events, watch = _play(
        rtmp_sink, "handover-boundary", clips, EngineLimits(handover_after_s=10), seconds=42
    )
    print(f"handovers {events.at}, publishes seen {watch.publishes}, gaps {watch.gaps_s}")
    assert engine.handovers == len(events.at) in (3, 4)  # every 10 s of a 42 s stream
    assert all(at_start for _, at_start in events.at)  # each at an item boundary
    assert watch.publishes == engine.handovers  # each a new ingest connection
    assert max(watch.gaps_s) <= 2.0
    record_figure(figures, "handover_gap_max_s", max(watch.gaps_s))
    # The last connection's recording starts again from 0 and holds only what followed the last handover.
    recorded = float(probe(rtmp_sink.recording("handover-boundary"))["format"]["duration"])
    assert recorded <= 10 + 4 + 1


@pytest.mark.xdist_group("handover")
def test_an_item_longer_than_the_grace_gets_its_handover_at_a_keyframe(
    rtmp_sink: RtmpSink, tmp_path: Path
) -> None:
    long_item = _clip(tmp_path / "long.mp4", 30)
    engine, events, watch = _play(
        rtmp_sink,
        "handover-long",
        [(long_item, 30.0)],
        EngineLimits(handover_after_s=6, handover_grace_s=4),
        seconds=28,
    )
    print(f"handovers {events.at}, gaps {watch.gaps_s}")
    assert engine.handovers >= 2  # at about 10 s and 20 s, inside the one item
    assert not any(at_start for _, at_start in events.at)
    assert watch.publishes == engine.handovers
    assert max(watch.gaps_s) <= 2.0


class Switches(Handovers):
    def __init__(self) -> None:
        super().__init__()
        self.switched: list[tuple[int, bool]] = []

    def on_switch(self, entry: Entry, switch: Switch) -> None:
        self.switched.append((entry.item_index, switch.at_boundary))


@pytest.mark.xdist_group("handover")
def test_a_switch_moves_the_push_to_another_ingest_at_the_next_item_boundary(
    rtmp_sink: RtmpSink, tmp_path: Path, figures: dict[str, float]
) -> None:
    """A YouTube broadcast's rotation as the engine makes it: asked from another thread mid-item, the output
    moves to the other ingest exactly where the next item begins on air (its reader decided it up to 4 s
    earlier): the old ingest holds the first two items whole, the new one the rest from its first frame,
    and the ingest side goes at most 2 s without data."""
    clips = [(_clip(tmp_path / f"s{i}.mp4", 5), 5.0) for i in range(2)]
    order = PlayOrder([Item(str(path), duration) for path, duration in clips], passes=None)
    redact = Redactor()
    output = Output(
        "dst_sink", f"{rtmp_sink.url}/switch-a", ffmpeg=engine_ffmpeg(), redact=redact, logger=log
    )
    events = Switches()
    engine = Engine(
        order.entries(limit_s=16),
        source=lambda entry: entry.item.media_id,
        outputs=[output],
        ffmpeg=engine_ffmpeg(),
        redact=redact,
        logger=log,  # type: ignore[arg-type]
        events=events,
        limits=EngineLimits(handover_after_s=None),
    )
    switch = Switch({"dst_sink": f"{rtmp_sink.url}/switch-b"}, force_at=time.monotonic() + 3600)
    # Asked at 3 s: the second item (5-10 s on air) is open already; the third opens at about 6 s.
    asked = threading.Timer(3.0, engine.request_switch, args=(switch,))
    with RecordingWatch(rtmp_sink.record_dir, "switch-a", also=("switch-b",)) as watch:
        asked.start()
        try:
            result = engine.run()
        finally:
            output.close(5)
            time.sleep(0.5)
    assert result.ending is Ending.FINISHED, result.reason
    assert switch.done.is_set()
    assert events.switched == [(0, True)]  # when the third item (the first clip again) began
    assert engine.switches == 1
    assert engine.handovers == 0  # only the switched output got a new connection
    gap = watch.wall_gap()
    print(f"switch: {events.switched}, gap {gap}, files {watch.file_sizes()}")
    assert gap.seconds <= 2.0
    record_figure(figures, "switch_gap_max_s", gap.seconds)
    before = float(probe(rtmp_sink.recording("switch-a"))["format"]["duration"])
    after = float(probe(rtmp_sink.recording("switch-b"))["format"]["duration"])
    print(f"switch-a holds {before:.3f} s, switch-b {after:.3f} s")
    assert abs(before - 10.0) <= 2 / 30  # items 0 and 1, whole (within two frames)
    assert abs(after - 6.0) <= 2 / 30  # item 0 again, then 1 s of item 1 (the 16 s limit)
