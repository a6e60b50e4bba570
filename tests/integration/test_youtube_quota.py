"""The YouTube quota ledger on moto: what is charged, what is refused with the reset time, and that callers
racing each other never spend past the day's limit together."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from playout.models import YouTubeQuotaDay
from playout.youtube.quota import QuotaLedger, YouTubeCall, YouTubeQuotaExhausted
from tests.integration.conftest import RecordingLauncher
from tests.integration.dynamo_faults import atomic_requests

PROJECT = "1234-abc.apps.googleusercontent.com"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(aws_env: RecordingLauncher) -> Clock:
    return Clock(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))


def test_each_call_is_charged_its_units_to_the_pacific_day(clock: Clock) -> None:
    ledger = QuotaLedger(PROJECT, daily_limit=10_000, clock=clock)

    ledger.spend(YouTubeCall.BROADCASTS_INSERT)
    ledger.spend(YouTubeCall.BROADCASTS_BIND)
    after = ledger.spend(YouTubeCall.BROADCASTS_LIST, times=3)

    assert (after.used, after.left) == (103, 9_897)
    assert after.resets_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert ledger.today() == after
    item = YouTubeQuotaDay.get_or_none(PROJECT, "2026-11-26")
    assert item is not None
    assert item.expires_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    clock.now += timedelta(hours=17)  # 08:00 UTC: a new Pacific day
    assert ledger.today().used == 0
    assert QuotaLedger("another-project", clock=clock).today().used == 0


def test_a_call_that_would_pass_the_limit_is_refused_with_the_reset_time_and_charges_nothing(
    clock: Clock,
) -> None:
    ledger = QuotaLedger(PROJECT, daily_limit=120, clock=clock)
    ledger.spend(YouTubeCall.BROADCASTS_INSERT)
    ledger.spend(YouTubeCall.BROADCASTS_BIND)

    with pytest.raises(YouTubeQuotaExhausted) as refused:
        ledger.spend(YouTubeCall.BROADCASTS_TRANSITION)

    assert refused.value.status == 429
    assert refused.value.resets_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert "2026-11-27 08:00 UTC" in refused.value.message
    assert ledger.today().used == 100
    assert ledger.spend(YouTubeCall.BROADCASTS_LIST, times=20).used == 120  # what is left can still be spent


def test_youtube_saying_quota_exceeded_spends_the_rest_of_the_day(clock: Clock) -> None:
    ledger = QuotaLedger(PROJECT, daily_limit=10_000, clock=clock)
    ledger.spend(YouTubeCall.CHANNELS_LIST)

    assert ledger.mark_spent().left == 0

    with pytest.raises(YouTubeQuotaExhausted):
        ledger.spend(YouTubeCall.BROADCASTS_LIST)


def test_callers_racing_each_other_never_spend_past_the_limit(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = QuotaLedger(PROJECT, daily_limit=1_000, clock=clock)

    def try_insert(_: int) -> bool:
        try:
            ledger.spend(YouTubeCall.BROADCASTS_INSERT)
        except YouTubeQuotaExhausted:
            return False
        return True

    with atomic_requests(monkeypatch), ThreadPoolExecutor(max_workers=8) as pool:
        granted = sum(pool.map(try_insert, range(60)))

    assert granted == 20
    assert ledger.today().used == 1_000
