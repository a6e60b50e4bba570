"""Conform once, copy forever: the CPU a stream costs per minute on air when the engine copies stream-ready
1080p30 (one reader per item copying the picture and encoding the sound to AAC, one pusher per
destination, the Python loop between them), against a live transcode of the same clip (libx264 veryfast +
AAC, what a restreamer without a conform step runs), both pushing in real time to the same nginx-rtmp.

The two run at the same time, so that whatever else loads the machine loads both alike. CPU is read from
/proc for each whole process tree (the engine's own Python included) over the steady part of the run: from
a few seconds after the first media reaches the sink until just before the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    Proxy,
    RtmpSink,
    Run,
    closing_all,
    cpu_rate,
    engine_run,
    steady,
    stream_name,
    transcode_argv,
)
from bench.media import Media
from bench.report import Figure

TARGET_RATIO = 20.0
REAL_TIME_SLACK_S = 3.0


@dataclass(frozen=True)
class Steady:
    cpu_s: float
    wall_s: float
    # A transcode that fell behind real time pushed less than a minute a minute: its cost per stream-minute
    # is then higher than measured, and a ratio against it an underestimate.
    kept_real_time: bool

    @property
    def rate(self) -> float:
        """CPU-seconds per second on air."""
        return self.cpu_s / self.wall_s


def _measured(run: Run, proxy: Proxy, seconds: float) -> Steady:
    on_air = proxy.first_media_at()
    if on_air is None:
        raise RuntimeError(f"no media reached the sink: {run.stderr_tail()}")
    window = steady(run.sampler, on_air, seconds)
    rate = cpu_rate(window)
    wall = window[-1].t - window[0].t
    ended = run.sampler.samples[-1].t
    return Steady(rate * wall, wall, ended - on_air <= seconds + REAL_TIME_SLACK_S)


def side_by_side(sink: RtmpSink, clip: Path, destinations: int, seconds: float) -> tuple[Steady, Steady]:
    """The engine copying and a live transcode, each to `destinations` ingests, for `seconds` at once."""
    ours_proxy, base_proxy = Proxy(sink.port), Proxy(sink.port)
    ours_urls = [ours_proxy.url("live", stream_name("copy")) for _ in range(destinations)]
    base_urls = [base_proxy.url("live", stream_name("transcode")) for _ in range(destinations)]
    ours = engine_run([clip], ours_urls, seconds=seconds, loop=True)
    base = Run(transcode_argv(clip, base_urls, seconds))
    with closing_all(ours, base, ours_proxy, base_proxy):
        ours.wait(seconds + 60)
        base.wait(seconds + 60)
        return _measured(ours, ours_proxy, seconds), _measured(base, base_proxy, seconds)


def _total(runs: list[Steady]) -> Steady:
    return Steady(
        sum(r.cpu_s for r in runs), sum(r.wall_s for r in runs), all(r.kept_real_time for r in runs)
    )


def measure(sink: RtmpSink, media: Media, *, seconds: float, rounds: int) -> list[Figure]:
    pairs = [side_by_side(sink, media.clip, 1, seconds) for _ in range(rounds)]
    copy, transcode = _total([p[0] for p in pairs]), _total([p[1] for p in pairs])
    ratio = transcode.rate / copy.rate
    return [
        Figure(
            measure="CPU per stream-minute, 1080p30, 1 dest",
            ours=copy.rate * 60,
            baseline=transcode.rate * 60,
            unit="CPU-s",
            ratio=ratio,
            ratio_of="transcode/copy",
            target=f"ratio >= {TARGET_RATIO:.0f}",
            met=ratio >= TARGET_RATIO,
            ours_label="copy",
            baseline_label="transcode",
            details={
                "seconds_per_run": seconds,
                "rounds": [
                    {
                        "copy_cpu_s": round(c.cpu_s, 3),
                        "copy_wall_s": round(c.wall_s, 2),
                        "transcode_cpu_s": round(t.cpu_s, 3),
                        "transcode_wall_s": round(t.wall_s, 2),
                        "transcode_kept_real_time": t.kept_real_time,
                    }
                    for c, t in pairs
                ],
            },
        )
    ]
