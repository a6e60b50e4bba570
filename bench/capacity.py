"""How many concurrent streams this machine's cores hold in local mode: streams are started through the real
API (users signed in through local mode's Cognito, two streams each, the per-user limit), each a stream task
with its ffmpeg copying a 1080p30 clip at YouTube's bitrate in a loop to its own key of one nginx-rtmp sink,
in steps (1, 2, 4, 8 ... streams, the earlier ones playing on). At each step, over a window of wall time:

- every stream keeps real time: the seconds of picture that reached the sink per wall second (its recording's
  timestamps, tailed as they arrive: tests/e2e/gaps.py) are at least REALTIME_MIN;
- no stream waits longer than GAP_LIMIT_S between two frames at the sink (what test_faults.py allows a stream
  that no fault touches), restarts, or leaves `live`;
- the CPU that local mode's process tree (gateway, moto, launcher, stream tasks, ffmpeg) and the sink use
  stays under CPU_HEADROOM of the cores.

The capacity is the largest step that held; the baseline is the first step, one stream, in the same run:
its CPU per stream and its recorded seconds per wall second. Whatever else runs on the machine takes its
share of the cores, so on a busy machine the figure is a lower bound (the machine's own busy share is
in the details)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import RtmpSink, Sample, sample_tree
from bench.report import Figure
from tests.e2e.conftest import LocalModeProcess, running_local_mode
from tests.e2e.fleet import Fleet, Ingest

STEPS = (1, 2, 4, 8, 12, 16, 24, 32, 40, 48, 56, 64)
QUICK_STEPS = (1, 2, 4)
REALTIME_MIN = 0.97
GAP_LIMIT_S = 1.0
CPU_HEADROOM = 0.8  # of the cores: what is left is the machine's own margin
# tests/e2e/test_load_and_faults.py plays 6 streams at once (one of them faulted) beside the rest of the
# suite: the capacity measured must hold twice that.
TARGET_STREAMS = 12
SETTLE_S = 5.0  # after the step's new streams are on the sink: their start's CPU is not the window's


@dataclass(frozen=True)
class Plan:
    steps: Sequence[int]
    window_s: float


FULL = Plan(STEPS, 30.0)
QUICK = Plan(QUICK_STEPS, 10.0)


@dataclass
class Step:
    streams: int
    window_s: float
    cpu_s: float  # local mode's process tree and the sink, over the window
    sink_cpu_s: float
    memory_mb: float  # local mode's process tree at the window's end (resident)
    machine_busy: float  # share of every core busy, whoever ran (the machine's other load included)
    realtime: list[float] = field(default_factory=list)  # per stream: recorded seconds / wall second
    gaps_s: list[float] = field(default_factory=list)  # per stream: the longest wait between two frames
    troubles: list[str] = field(default_factory=list)  # streams that restarted or left `live`

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.window_s / _cores()

    @property
    def cpu_per_stream_pct(self) -> float:
        """CPU-seconds per second per stream, as a percentage of one core."""
        return 100.0 * self.cpu_s / self.window_s / self.streams

    def why_not(self) -> list[str]:
        reasons = list(self.troubles)
        if min(self.realtime) < REALTIME_MIN:
            reasons.append(f"a stream kept {min(self.realtime):.3f} of real time (< {REALTIME_MIN})")
        if max(self.gaps_s) > GAP_LIMIT_S:
            reasons.append(f"a stream waited {max(self.gaps_s):.2f} s for a frame (> {GAP_LIMIT_S:g} s)")
        if self.cpu_share > CPU_HEADROOM:
            reasons.append(f"the streams used {self.cpu_share:.0%} of the cores (> {CPU_HEADROOM:.0%})")
        return reasons

    def summary(self) -> dict[str, object]:
        return {
            "streams": self.streams,
            "window_s": round(self.window_s, 1),
            "cpu_share_of_cores": round(self.cpu_share, 3),
            "cpu_per_stream_pct_of_core": round(self.cpu_per_stream_pct, 2),
            "sink_cpu_s": round(self.sink_cpu_s, 2),
            "memory_mb": round(self.memory_mb),
            "machine_busy": round(self.machine_busy, 3),
            "realtime_worst": round(min(self.realtime), 4),
            "gap_worst_s": round(max(self.gaps_s), 3),
            "held": not self.why_not(),
            "why_not": self.why_not(),
        }


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _machine_times() -> tuple[float, float]:
    """All the cores' busy and total time so far (/proc/stat, in ticks)."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def _sample(pid: int) -> Sample:
    sample = sample_tree(pid)
    if sample is None:
        raise RuntimeError(f"process {pid} is gone")
    return sample


def _window(local: LocalModeProcess, sink: RtmpSink, fleet: Fleet, window_s: float) -> Step:
    before = {p.stream_id: len(p.troubles()) for p in fleet.playing}
    busy0, total0 = _machine_times()
    tree0, sink0 = _sample(local.process.pid), _sample(sink.pid)
    start = time.monotonic()
    time.sleep(window_s)
    end = time.monotonic()
    tree1, sink1 = _sample(local.process.pid), _sample(sink.pid)
    busy1, total1 = _machine_times()
    step = Step(
        streams=len(fleet.playing),
        window_s=end - start,
        cpu_s=(tree1.cpu_s - tree0.cpu_s) + (sink1.cpu_s - sink0.cpu_s),
        sink_cpu_s=sink1.cpu_s - sink0.cpu_s,
        memory_mb=tree1.rss_bytes / 1024**2,
        machine_busy=(busy1 - busy0) / (total1 - total0),
    )
    for playing in fleet.playing:
        step.realtime.append(playing.watch.seconds_of_video(since=start) / step.window_s)
        step.gaps_s.append(playing.watch.wall_gap(since=start, until=end).seconds)
        troubles = playing.troubles()[before[playing.stream_id] :]
        status = playing.status()
        if troubles or status != "live":
            step.troubles.append(f"{playing.stream_id} {status}: {troubles}")
    return step


def run_steps(plan: Plan, sink: RtmpSink, clip: Path, progress: Callable[[str], None]) -> list[Step]:
    """Local mode of its own, the steps until one does not hold (or the last), then every stream stopped."""
    ingest = Ingest(f"rtmp://127.0.0.1:{sink.port}/rec", sink.record_dir)
    steps: list[Step] = []
    with (
        tempfile.TemporaryDirectory(prefix="playout-bench-capacity-") as root,
        running_local_mode(Path(root) / "local") as local,
    ):
        fleet = Fleet(local, clip)
        try:
            for count in plan.steps:
                fleet.start([ingest] * (count - len(fleet.playing)), title="bench: capacity")
                time.sleep(SETTLE_S)
                steps.append(_window(local, sink, fleet, plan.window_s))
                progress(f"capacity: {steps[-1].summary()}")
                if steps[-1].why_not():
                    break
        finally:
            ended = fleet.stop_all()
        not_ended = [s["stream_id"] for s in ended if s["status"] != "ended"]
        if not_ended:
            raise RuntimeError(f"streams that did not end: {not_ended}")
    return steps


def figures(steps: Sequence[Step], *, target: int) -> list[Figure]:
    """The capacity (the largest step that held) against one stream, and what a stream costs there."""
    alone = steps[0]
    held = [s for s in steps if not s.why_not()]
    top = held[-1] if held else alone
    capacity = top.streams if held else 0
    details: dict[str, object] = {
        "cores": _cores(),
        "steps": [s.summary() for s in steps],
        "stopped_by": steps[-1].why_not(),
        # What the cores would hold if every stream cost what the lone one did and nothing else ran.
        "cpu_bound_estimate": int(CPU_HEADROOM * _cores() * 100 / alone.cpu_per_stream_pct),
        "machine_busy_worst": round(max(s.machine_busy for s in steps), 3),
    }
    return [
        Figure(
            measure=f"Concurrent local streams {_cores()} cores hold, 1080p30 6 Mbps copy",
            ours=capacity,
            baseline=alone.streams,
            unit="streams",
            ratio=capacity / alone.streams,
            ratio_of="held/alone",
            target=f"ours >= {target}",
            met=capacity >= target,
            ours_label="held",
            baseline_label="alone",
            details=details,
        ),
        Figure(
            measure=f"CPU per stream at {top.streams} streams vs alone (% of a core)",
            ours=top.cpu_per_stream_pct,
            baseline=alone.cpu_per_stream_pct,
            unit="%",
            ratio=top.cpu_per_stream_pct / alone.cpu_per_stream_pct,
            ratio_of="N/alone",
            target="-",
            met=None,
            ours_label=f"at {top.streams}",
            baseline_label="alone",
            details=details,
        ),
        Figure(
            measure=f"Recorded s per wall s, worst stream at {top.streams} vs alone",
            ours=min(top.realtime),
            baseline=min(alone.realtime),
            unit="",
            ratio=min(top.realtime) / min(alone.realtime),
            ratio_of="N/alone",
            target=f"ours >= {REALTIME_MIN}",
            met=min(top.realtime) >= REALTIME_MIN,
            ours_label=f"at {top.streams}",
            baseline_label="alone",
            details=details,
        ),
    ]


def measure(sink: RtmpSink, clip: Path, plan: Plan, progress: Callable[[str], None]) -> list[Figure]:
    return figures(run_steps(plan, sink, clip, progress), target=TARGET_STREAMS)
