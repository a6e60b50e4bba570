"""Bits are the bill: what a stream's bits cost leaving AWS for the ingest, and what a lower video bitrate
than YouTube's recommendation saves per stream-hour. Pure arithmetic, shared by the conform benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

EGRESS_USD_PER_GB = 0.09  # data out of AWS to the internet, first tier
AUDIO_KBPS = 128  # the house profile's AAC (stream_task.conform.AUDIO_BITRATE)
SECONDS_PER_HOUR = 3600


def gigabytes_per_hour(kbps: float) -> float:
    """Decimal GB (what AWS bills) that `kbps` kbit/s moves in an hour."""
    return kbps * 1000 / 8 * SECONDS_PER_HOUR / 1e9


def usd_per_stream_hour(video_kbps: float, audio_kbps: float = AUDIO_KBPS) -> float:
    """Egress of one destination for an hour on air: the video and its sound."""
    return gigabytes_per_hour(video_kbps + audio_kbps) * EGRESS_USD_PER_GB


@dataclass(frozen=True)
class Saving:
    pct: float  # of the reference's video bits; negative when ours sends more
    usd_per_stream_hour: float  # the sound is the same on both sides, so only the video's bits count


def saving(ours_kbps: float, reference_kbps: float) -> Saving:
    """What sending `ours_kbps` of video instead of `reference_kbps` saves, per destination and hour."""
    if reference_kbps <= 0:
        raise ValueError(f"the reference bitrate must be positive, not {reference_kbps}")
    return Saving(
        pct=100 * (1 - ours_kbps / reference_kbps),
        usd_per_stream_hour=gigabytes_per_hour(reference_kbps - ours_kbps) * EGRESS_USD_PER_GB,
    )
