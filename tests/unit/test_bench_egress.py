"""The benchmarks' egress arithmetic: what a stream's bits cost leaving AWS and what fewer of them save."""

from __future__ import annotations

import pytest

from bench.egress import gigabytes_per_hour, saving, usd_per_stream_hour


def test_6_mbps_moves_2_7_gb_an_hour() -> None:
    assert gigabytes_per_hour(6000) == pytest.approx(2.7)


def test_an_hour_of_1080p30_at_youtubes_6_mbps_with_its_sound_costs_about_25_cents() -> None:
    # (6000 + 128) kbit/s for 3600 s = 2.7576 GB at $0.09/GB
    assert usd_per_stream_hour(6000) == pytest.approx(0.248184)
    assert usd_per_stream_hour(6000, audio_kbps=0) == pytest.approx(0.243)


def test_the_saving_counts_the_video_bits_only_in_percent_and_dollars_per_hour() -> None:
    saved = saving(1500, 6000)
    assert saved.pct == pytest.approx(75.0)
    assert saved.usd_per_stream_hour == pytest.approx(4500 * 1000 / 8 * 3600 / 1e9 * 0.09)
    assert saved.usd_per_stream_hour == pytest.approx(usd_per_stream_hour(6000) - usd_per_stream_hour(1500))


def test_sending_more_than_the_reference_is_a_negative_saving() -> None:
    saved = saving(800, 700)
    assert saved.pct == pytest.approx(-100 / 7)
    assert saved.usd_per_stream_hour < 0


def test_a_reference_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        saving(100, 0)
