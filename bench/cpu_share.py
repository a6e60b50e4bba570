"""Does a 1080p30 stream to three destinations fit the smallest Fargate task? Its CPU as a share of
0.25 vCPU (CPU-seconds per second on air / 0.25), against a live transcode of the same clip to the same
three destinations (one encode, the tee muxer), the two run at the same time."""

from __future__ import annotations

from bench.copy_vs_transcode import side_by_side
from bench.harness import FARGATE_SMALLEST_VCPU, RtmpSink, share_pct
from bench.media import Media
from bench.report import Figure

DESTINATIONS = 3
TARGET_PCT = 50.0


def measure(sink: RtmpSink, media: Media, *, seconds: float) -> list[Figure]:
    copy, transcode = side_by_side(sink, media.clip, DESTINATIONS, seconds)
    ours, baseline = share_pct(copy.per_minute / 60), share_pct(transcode.per_minute / 60)
    return [
        Figure(
            measure=f"CPU share of {FARGATE_SMALLEST_VCPU} vCPU, 1080p30, {DESTINATIONS} dests",
            ours=ours,
            baseline=baseline,
            unit="%",
            ratio=baseline / ours,
            ratio_of="transcode/copy",
            target=f"ours <= {TARGET_PCT:.0f} %",
            met=ours <= TARGET_PCT,
            ours_label="copy",
            baseline_label="transcode",
            details={
                "seconds": seconds,
                "copy_cpu_s": round(copy.cpu_s, 3),
                "copy_cpu_s_per_min_by_part": copy.per_minute_by_part(),
                "transcode_cpu_s": round(transcode.cpu_s, 3),
            },
        )
    ]
