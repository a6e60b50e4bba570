"""Google resets YouTube quota at midnight Pacific time, daylight saving time or not; the published costs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from playout.youtube.quota import COST_UNITS, YouTubeCall, next_reset, pacific_day


@pytest.mark.parametrize(
    ("now", "day", "reset"),
    [
        # winter (PST, UTC-8): the day turns at 08:00 UTC
        (datetime(2026, 11, 26, 7, 59, tzinfo=UTC), "2026-11-25", datetime(2026, 11, 26, 8, 0, tzinfo=UTC)),
        (datetime(2026, 11, 26, 8, 0, tzinfo=UTC), "2026-11-26", datetime(2026, 11, 27, 8, 0, tzinfo=UTC)),
        # summer (PDT, UTC-7): at 07:00 UTC
        (datetime(2026, 7, 1, 6, 59, tzinfo=UTC), "2026-06-30", datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),
        # the night clocks go back (1 Nov 2026): that Pacific day lasts 25 hours
        (datetime(2026, 11, 1, 7, 30, tzinfo=UTC), "2026-11-01", datetime(2026, 11, 2, 8, 0, tzinfo=UTC)),
        # and forward (8 Mar 2026): 23 hours
        (datetime(2026, 3, 8, 9, 0, tzinfo=UTC), "2026-03-08", datetime(2026, 3, 9, 7, 0, tzinfo=UTC)),
    ],
)
def test_the_quota_day_is_the_pacific_date_and_resets_at_pacific_midnight(
    now: datetime, day: str, reset: datetime
) -> None:
    assert pacific_day(now) == day
    assert next_reset(now) == reset


def test_the_costs_are_googles_published_units() -> None:
    assert COST_UNITS[YouTubeCall.BROADCASTS_LIST] == COST_UNITS[YouTubeCall.CHANNELS_LIST] == 1
    assert COST_UNITS[YouTubeCall.STREAMS_LIST] == 1
    for call in (
        YouTubeCall.BROADCASTS_INSERT,
        YouTubeCall.BROADCASTS_UPDATE,
        YouTubeCall.BROADCASTS_BIND,
        YouTubeCall.BROADCASTS_TRANSITION,
        YouTubeCall.BROADCASTS_DELETE,
        YouTubeCall.STREAMS_INSERT,
        YouTubeCall.THUMBNAILS_SET,
    ):
        assert COST_UNITS[call] == 50, call
