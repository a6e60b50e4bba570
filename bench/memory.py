"""Memory of a stream to three destinations (the engine's process and all its ffmpegs): under budget, and
flat, i.e. a long run peaks no higher than a short one. The two runs start together and run side by side
while the other benchmarks go on, so that the long one costs no extra wall time."""

from __future__ import annotations

from dataclasses import dataclass

from bench.copy_vs_transcode import engine_cost
from bench.harness import Proxy, RtmpSink, Run, Sample, engine_run, share_pct, stream_name
from bench.media import Media
from bench.report import Figure

DESTINATIONS = 3
SAMPLE_S = 2.0
MB = 1000**2
TARGET_BYTES = 150 * MB
TARGET_RATIO = 1.1
END_SLACK_S = 120.0


@dataclass
class MemoryRuns:
    long: Run
    short: Run
    long_s: float
    short_s: float
    proxies: tuple[Proxy, Proxy]

    def close(self) -> None:
        for run in (self.long, self.short):
            run.close()
        for proxy in self.proxies:
            proxy.close()


def start(sink: RtmpSink, media: Media, *, long_s: float, short_s: float) -> MemoryRuns:
    proxies = (Proxy(sink.port), Proxy(sink.port))

    def run(proxy: Proxy, seconds: float) -> Run:
        urls = [proxy.url("live", stream_name("memory")) for _ in range(DESTINATIONS)]
        return engine_run([media.clip], urls, seconds=seconds, loop=True, sample_s=SAMPLE_S, footprint=True)

    return MemoryRuns(run(proxies[0], long_s), run(proxies[1], short_s), long_s, short_s, proxies)


def _peak(samples: list[Sample], attribute: str) -> int:
    return max(int(getattr(s, attribute)) for s in samples)


def finish(runs: MemoryRuns) -> list[Figure]:
    try:
        runs.short.wait(runs.short_s + END_SLACK_S)
        runs.long.wait(runs.long_s + END_SLACK_S)
    finally:
        runs.close()
    long, short = runs.long.sampler.samples, runs.short.sampler.samples
    long_peak, short_peak = _peak(long, "footprint_bytes"), _peak(short, "footprint_bytes")
    ratio = long_peak / short_peak
    details = {
        "long_s": runs.long_s,
        "short_s": runs.short_s,
        "sample_s": SAMPLE_S,
        "long_peak_pss_mb": round(_peak(long, "pss_bytes") / MB, 1),
        "short_peak_pss_mb": round(_peak(short, "pss_bytes") / MB, 1),
        "long_peak_rss_sum_mb": round(_peak(long, "rss_bytes") / MB, 1),
        "short_peak_rss_sum_mb": round(_peak(short, "rss_bytes") / MB, 1),
        "long_last_minute_peak_mb": round(
            max(s.footprint_bytes for s in long if s.t >= long[-1].t - 60) / MB, 1
        ),
        "processes": max(s.processes for s in long),
        "long_cpu_share_pct_of_0.25_vcpu": round(
            share_pct(engine_cost(runs.long, runs.long_s).per_minute / 60), 1
        ),
    }
    return [
        Figure(
            measure=f"Memory peak, 1080p30, {DESTINATIONS} dests",
            ours=long_peak / MB,
            baseline=short_peak / MB,
            unit="MB",
            ratio=ratio,
            ratio_of="long/short",
            target=f"ratio <= {TARGET_RATIO}, ours <= {TARGET_BYTES // MB} MB",
            met=ratio <= TARGET_RATIO and long_peak <= TARGET_BYTES,
            ours_label=f"{runs.long_s / 60:g} min",
            baseline_label=f"{runs.short_s / 60:g} min",
            details=details,
        )
    ]
