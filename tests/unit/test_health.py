"""The health item stays small and cheap, and the cost meter adds up at list prices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from playout import health, usage
from playout.health import Beat, DestinationReport, beat_actions, item_bytes, short_reason
from playout.models import HEALTH_PREFIX, DestinationHealth, StreamHealthItem, user_pk

LONGEST_SUB = "0" * 36  # a Cognito sub is a UUID
LONGEST_ID = "str_" + "0" * 26


def _largest_beat() -> Beat:
    """Every field at its longest: 10 destinations (the most a stream has), each retrying with a long,
    multi-byte reason and a lifetime of bytes, and position figures with every digit used."""
    return Beat(
        uptime_s=8_640_000.123,
        capacity="on_demand",
        spot_s=31_536_000.9,
        on_demand_s=31_536_000.9,
        destinations=[DestinationReport("connecting", "é" * 200, 999_999_999_999_999) for _ in range(10)],
        position_s=8_640_000.123,
        pass_index=99_999,
        slot=999,
        item_offset_s=86_399.999,
        item_index=999,
        bitrate_kbps=99_999.9,
        fps=59.94,
    )


def test_the_largest_possible_beat_fits_one_write_unit() -> None:
    beat = _largest_beat()
    item = StreamHealthItem(
        user_pk(LONGEST_SUB),
        HEALTH_PREFIX + LONGEST_ID,
        run_id="run_" + "0" * 26,
        wanted=health.WANT_PLAY,
        created_at=datetime(2026, 11, 26, tzinfo=UTC),
        updated_at=datetime(2026, 11, 26, 12, tzinfo=UTC),
        expires_at=datetime(2027, 12, 31, tzinfo=UTC),
        uptime_s=beat.uptime_s,
        capacity=beat.capacity,
        spot_s=round(beat.spot_s),
        on_demand_s=round(beat.on_demand_s),
        destinations=[
            DestinationHealth(
                state=d.state,
                reason=short_reason(d.reason),
                bytes_sent=d.bytes_sent,
            )
            for d in beat.destinations
        ],
        position_s=round(beat.position_s or 0, 1),
        pass_index=beat.pass_index,
        slot=beat.slot,
        item_offset_s=beat.item_offset_s,
        item_index=beat.item_index,
        bitrate_kbps=round(beat.bitrate_kbps or 0),
        fps=beat.fps,
    )
    size = item_bytes(item.serialize())
    print(f"largest health item: {size} bytes")
    assert size <= health.MAX_ITEM_BYTES


def test_a_beat_sets_what_it_measured_and_removes_what_it_did_not() -> None:
    actions = beat_actions(Beat(uptime_s=3.04, capacity="spot", spot_s=12.6, on_demand_s=0.0))
    sets = {a.values[0].path[0] for a in actions if a.format_string.startswith("{0} = ")}
    removes = {a.values[0].path[0] for a in actions if not a.format_string.startswith("{0} = ")}
    assert {"updated_at", "uptime_s", "spot_s", "capacity"} <= sets
    assert {"position_s", "pass_index", "fps"} <= removes  # nothing played yet: no stale position left


def test_item_bytes_follows_the_documented_rules() -> None:
    assert item_bytes({"a": {"S": "xyz"}}) == 4
    assert item_bytes({"n": {"N": "12345"}}) == 1 + 4  # 5 digits: 3 bytes + 1
    assert item_bytes({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_bytes({"l": {"L": [{"N": "1"}, {"N": "2"}]}}) == 1 + 3 + 2 * (2 + 1)
    assert item_bytes({"s": {"S": "é"}}) == 3  # UTF-8 bytes, not characters


def test_reasons_are_cut_to_fit_and_say_so() -> None:
    assert short_reason(None) is None
    assert short_reason("Connection  refused\n") == "Connection refused"
    assert short_reason("x" * 200) == "x" * health.MAX_REASON_BYTES
    assert short_reason("é" * 200) == "é" * (health.MAX_REASON_BYTES // 2)  # bytes, never half a character


def test_health_writes_cost_under_the_budget_per_stream_hour() -> None:
    writes_per_hour = 3600 / health.MIN_BEAT_INTERVAL_S
    price = usage.PRICES[health.ON_DEMAND].dynamodb_write_million / 1_000_000
    # One write unit per beat (the item is at most 1 KB): $0.0005 per stream-hour is the budget.
    assert writes_per_hour * price <= 0.0005


def test_the_task_size_costs_a_cent_an_hour_on_demand() -> None:
    assert usage.task_hour_usd(health.ON_DEMAND) == pytest.approx(0.0099, abs=0.0001)
    assert usage.task_hour_usd(health.SPOT) < usage.task_hour_usd(health.ON_DEMAND) / 2


def test_the_meter_adds_compute_egress_and_health_writes() -> None:
    item = StreamHealthItem(
        spot_s=1800,
        on_demand_s=1800,
        capacity="spot",
        destinations=[
            DestinationHealth(state="live", bytes_sent=2_000_000_000),
            DestinationHealth(state="failed", bytes_sent=700_000_000),
        ],
    )
    used = usage.usage_of(item, beat_interval_s=5)
    assert (used.egress_bytes, used.compute_s, used.capacity, used.health_writes) == (
        2_700_000_000,
        3600,
        "spot",
        720,
    )
    expected = (
        0.5 * usage.task_hour_usd(health.SPOT)
        + 0.5 * usage.task_hour_usd(health.ON_DEMAND)
        + 2.7 * 0.09
        + 720 * 0.625 / 1_000_000
    )
    assert used.estimated_usd == pytest.approx(expected, abs=1e-6)


def test_a_stream_never_started_has_used_nothing() -> None:
    assert usage.usage_of(None, 5).estimated_usd == 0
