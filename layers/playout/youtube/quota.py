"""YouTube Data API quota: a ledger of the units spent per Google project per Pacific day.

Google counts quota per Cloud project (every user's channels share one project's 10,000 units a day by
default) and resets it at midnight Pacific time. Each call is charged here before it is made, with the
costs Google publishes, by one conditional UpdateItem: concurrent Lambdas and stream tasks can never
spend past the limit together, and an action that would answers 429 with the reset time instead of
failing half way at YouTube. When YouTube itself answers `quotaExceeded` (units spent outside Playout, or
a limit lowered in the console), the rest of the day is marked spent.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from pynamodb.exceptions import UpdateError

from playout.errors import TooManyRequests
from playout.models import YouTubeQuotaDay, utcnow

PACIFIC: Final = ZoneInfo("America/Los_Angeles")
DEFAULT_DAILY_UNITS: Final = 10_000
KEPT_AFTER_RESET: Final = timedelta(days=3)  # a few days of history, then DynamoDB's TTL removes the item


class YouTubeCall(enum.StrEnum):
    """The calls Playout makes, named as the API names them."""

    CHANNELS_LIST = "channels.list"
    BROADCASTS_LIST = "liveBroadcasts.list"
    BROADCASTS_INSERT = "liveBroadcasts.insert"
    BROADCASTS_UPDATE = "liveBroadcasts.update"
    BROADCASTS_BIND = "liveBroadcasts.bind"
    BROADCASTS_TRANSITION = "liveBroadcasts.transition"
    BROADCASTS_DELETE = "liveBroadcasts.delete"
    STREAMS_LIST = "liveStreams.list"
    STREAMS_INSERT = "liveStreams.insert"
    STREAMS_DELETE = "liveStreams.delete"
    THUMBNAILS_SET = "thumbnails.set"


# https://developers.google.com/youtube/v3/determine_quota_cost
COST_UNITS: Final[dict[YouTubeCall, int]] = {
    call: 1 if call.value.endswith(".list") else 50 for call in YouTubeCall
}


@dataclass(frozen=True)
class QuotaDay:
    used: int
    limit: int
    resets_at: datetime  # UTC

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


class YouTubeQuotaExhausted(TooManyRequests):
    code = "youtube_quota_exhausted"

    def __init__(self, message: str, resets_at: datetime) -> None:
        super().__init__(message)
        self.resets_at = resets_at

    def details(self) -> dict[str, str]:
        return {"resets_at": self.resets_at.astimezone(UTC).isoformat().replace("+00:00", "Z")}


def pacific_day(now: datetime) -> str:
    """The quota day `now` (aware) falls in, as Google counts it: the date in Pacific time."""
    return now.astimezone(PACIFIC).date().isoformat()


def next_reset(now: datetime) -> datetime:
    """The next midnight in Pacific time, in UTC (07:00 or 08:00 UTC, with daylight saving time)."""
    tomorrow = now.astimezone(PACIFIC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=PACIFIC).astimezone(UTC)


@dataclass(frozen=True)
class QuotaLedger:
    """The units spent today by one Google project (`project`: its OAuth client id)."""

    project: str
    daily_limit: int = DEFAULT_DAILY_UNITS
    clock: Callable[[], datetime] = utcnow

    def today(self) -> QuotaDay:
        return self.day_of(YouTubeQuotaDay.get_or_none(self.project, pacific_day(self.clock())))

    def today_key(self) -> tuple[str, str]:
        """Today's item's key, for a caller that reads it along with other items."""
        item = YouTubeQuotaDay.for_day(self.project, pacific_day(self.clock()))
        return str(item.pk), str(item.sk)

    def day_of(self, item: YouTubeQuotaDay | None) -> QuotaDay:
        """Today as its item (None: nothing spent yet) says."""
        return QuotaDay(int(item.used) if item else 0, self.daily_limit, next_reset(self.clock()))

    def spend(self, call: YouTubeCall, times: int = 1, *, cleanup: bool = False) -> QuotaDay:
        """Charges `call` (`times` over) to today, or raises YouTubeQuotaExhausted, charging nothing, if that
        would pass the limit. A `cleanup` call (ending or deleting a broadcast Playout made) is charged but
        never refused here: leaving a broadcast live on YouTube is worse than passing the ledger's count,
        and YouTube itself still refuses it if the project's quota is really spent."""
        now = self.clock()
        cost = COST_UNITS[call] * times
        item = YouTubeQuotaDay.for_day(self.project, pacific_day(now))
        try:
            item.update(
                actions=[
                    YouTubeQuotaDay.used.add(cost),
                    YouTubeQuotaDay.expires_at.set(next_reset(now) + KEPT_AFTER_RESET),
                ],
                condition=None
                if cleanup
                else YouTubeQuotaDay.used.does_not_exist()
                | (YouTubeQuotaDay.used <= self.daily_limit - cost),
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            raise self._exhausted(call, now) from None
        return QuotaDay(int(item.used), self.daily_limit, next_reset(now))

    def require(self, units: int, what: str) -> QuotaDay:
        """Today, if `units` are left for `what` (the calls of a whole action, checked before its first one);
        else YouTubeQuotaExhausted with the reset time, before anything is done."""
        day = self.today()
        if day.left < units:
            raise YouTubeQuotaExhausted(
                f"YouTube's daily quota has {day.left} of {day.limit} units left and {what} needs {units}; "
                f"it resets at {day.resets_at:%Y-%m-%d %H:%M} UTC (midnight Pacific time)",
                day.resets_at,
            )
        return day

    def mark_spent(self) -> QuotaDay:
        """YouTube answered `quotaExceeded`: nothing more today, whatever the ledger counted."""
        now = self.clock()
        item = YouTubeQuotaDay.for_day(self.project, pacific_day(now))
        item.update(
            actions=[
                YouTubeQuotaDay.used.set(self.daily_limit),
                YouTubeQuotaDay.expires_at.set(next_reset(now) + KEPT_AFTER_RESET),
            ]
        )
        return QuotaDay(self.daily_limit, self.daily_limit, next_reset(now))

    def _exhausted(self, call: YouTubeCall, now: datetime) -> YouTubeQuotaExhausted:
        resets_at = next_reset(now)
        return YouTubeQuotaExhausted(
            f"YouTube's daily quota is spent ({call.value} needs {COST_UNITS[call]} units); it resets at "
            f"{resets_at:%Y-%m-%d %H:%M} UTC (midnight Pacific time)",
            resets_at,
        )
