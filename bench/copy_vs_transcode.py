"""Conform once, copy forever: the CPU a stream costs per minute on air when the engine copies stream-ready
1080p30 (one reader per item copying the picture and encoding the sound to AAC, one pusher per
destination, the Python loop between them), against a live transcode of the same clip (libx264 veryfast +
AAC, what a restreamer without a conform step runs), both pushing in real time to the same nginx-rtmp.

The two run at the same time, so that whatever else loads the machine loads both alike. CPU is each
run's whole process tree (the children it waited for included), for the engine from its start to its end
as its driver reports them (imports and probing are paid once per task, not per minute), for the
transcode over its whole life (wait4), divided by the minutes of media pushed. A window of the run would
not do: a reader reads its item ahead of the air, so a window sees less reading than airing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.harness import Proxy, RtmpSink, Run, closing_all, engine_run, stream_name, transcode_argv
from bench.media import Media
from bench.report import Figure

TARGET_RATIO = 20.0
END_SLACK_S = 60.0


@dataclass(frozen=True)
class Cost:
    cpu_s: float
    media_s: float
    python_cpu_s: float = 0.0  # the engine's own process
    pusher_cpu_s: float = 0.0  # its outputs' ffmpegs (the readers' are the rest)

    @property
    def per_minute(self) -> float:
        """CPU-seconds per minute on air."""
        return 60 * self.cpu_s / self.media_s

    def per_minute_by_part(self) -> dict[str, float]:
        """Where the engine's CPU goes, per minute on air."""
        readers = self.cpu_s - self.python_cpu_s - self.pusher_cpu_s
        per_min = 60 / self.media_s
        return {
            "python": round(self.python_cpu_s * per_min, 3),
            "readers": round(readers * per_min, 3),
            "pushers": round(self.pusher_cpu_s * per_min, 3),
        }

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.cpu_s + other.cpu_s,
            self.media_s + other.media_s,
            self.python_cpu_s + other.python_cpu_s,
            self.pusher_cpu_s + other.pusher_cpu_s,
        )


def engine_cost(run: Run, seconds: float) -> Cost:
    """What the engine spent from its start to its end (its outputs closed), as the driver reports it."""
    started, ended = run.wait_for("run", 1), run.wait_for("end", 1)
    pushers = run.sampler.samples[-1].pusher_cpu_s  # sampled: the last second of each pusher is missed
    return Cost(
        cpu_s=ended.values["tree_cpu_s"] - started.values["tree_cpu_s"],
        media_s=seconds,
        python_cpu_s=ended.values["own_cpu_s"] - started.values["own_cpu_s"],
        pusher_cpu_s=pushers,
    )


def side_by_side(sink: RtmpSink, clip: Path, destinations: int, seconds: float) -> tuple[Cost, Cost]:
    """The engine copying and a live transcode, each to `destinations` ingests, for `seconds` at once."""
    ours_proxy, base_proxy = Proxy(sink.port), Proxy(sink.port)
    ours_urls = [ours_proxy.url("live", stream_name("copy")) for _ in range(destinations)]
    base_urls = [base_proxy.url("live", stream_name("transcode")) for _ in range(destinations)]
    ours = engine_run([clip], ours_urls, seconds=seconds, loop=True)
    base = Run(transcode_argv(clip, base_urls, seconds))
    with closing_all(ours, base, ours_proxy, base_proxy):
        ours.wait(seconds + END_SLACK_S)
        base.wait(seconds + END_SLACK_S)
    assert base.cpu_s is not None
    return engine_cost(ours, seconds), Cost(base.cpu_s, seconds)


def measure(sink: RtmpSink, media: Media, *, seconds: float, rounds: int) -> list[Figure]:
    pairs = [side_by_side(sink, media.clip, 1, seconds) for _ in range(rounds)]
    copy, transcode = pairs[0][0], pairs[0][1]
    for ours, base in pairs[1:]:
        copy, transcode = copy + ours, transcode + base
    ratio = transcode.per_minute / copy.per_minute
    return [
        Figure(
            measure="CPU per stream-minute, 1080p30, 1 dest",
            ours=copy.per_minute,
            baseline=transcode.per_minute,
            unit="CPU-s",
            ratio=ratio,
            ratio_of="transcode/copy",
            target=f"ratio >= {TARGET_RATIO:.0f}",
            met=ratio >= TARGET_RATIO,
            ours_label="copy",
            baseline_label="transcode",
            details={
                "seconds_per_run": seconds,
                "copy_cpu_s_per_min_by_part": copy.per_minute_by_part(),
                "rounds": [
                    {"copy_cpu_s": round(ours.cpu_s, 3), "transcode_cpu_s": round(base.cpu_s, 3)}
                    for ours, base in pairs
                ],
            },
        )
    ]
