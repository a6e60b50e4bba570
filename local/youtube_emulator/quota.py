"""The YouTube Data API's quota, per Google project (an OAuth client here) per Pacific day.

Costs are YouTube's published ones. YouTube charges even a request it refuses at least one unit, so here a
call answered 2xx costs its price, one refused with a 4xx costs 1, and what never reached the API proper
(no valid credentials, the quota already spent, a server error) costs nothing. A call that would take the
day past the limit is refused with `quotaExceeded`, as are all calls once the limit is reached.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

PACIFIC: Final = ZoneInfo("America/Los_Angeles")
DEFAULT_DAILY_LIMIT: Final = 10_000
LIST_COST: Final = 1
WRITE_COST: Final = 50
METHOD_COSTS: Final = {
    "youtube.channels.list": LIST_COST,
    "youtube.liveBroadcasts.list": LIST_COST,
    "youtube.liveStreams.list": LIST_COST,
    "youtube.liveBroadcasts.insert": WRITE_COST,
    "youtube.liveBroadcasts.update": WRITE_COST,
    "youtube.liveBroadcasts.bind": WRITE_COST,
    "youtube.liveBroadcasts.transition": WRITE_COST,
    "youtube.liveBroadcasts.delete": WRITE_COST,
    "youtube.liveStreams.insert": WRITE_COST,
    "youtube.liveStreams.update": WRITE_COST,
    "youtube.liveStreams.delete": WRITE_COST,
    "youtube.thumbnails.set": WRITE_COST,
}
EXHAUSTED: Final = "emulator.exhaust"  # the ledger line of a test's "spend the rest of today's quota"


def cost(method_id: str) -> int:
    return METHOD_COSTS.get(method_id, LIST_COST if method_id.endswith(".list") else WRITE_COST)


def pacific_day(at: float) -> date:
    return datetime.fromtimestamp(at, PACIFIC).date()


def next_reset(at: float) -> datetime:
    """The next Pacific midnight, in UTC: when the day's quota starts again."""
    tomorrow = pacific_day(at) + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), PACIFIC).astimezone(UTC)


@dataclass(frozen=True)
class LedgerEntry:
    at: float
    day: date
    project: str
    method_id: str
    units: int
    status: int


@dataclass
class QuotaLedger:
    clock: Callable[[], float]
    daily_limit: int = DEFAULT_DAILY_LIMIT
    entries: list[LedgerEntry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def used(self, project: str, day: date | None = None) -> int:
        day = day or pacific_day(self.clock())
        with self._lock:
            return sum(entry.units for entry in self.entries if entry.project == project and entry.day == day)

    def allows(self, project: str, method_id: str) -> bool:
        return self.used(project) + cost(method_id) <= self.daily_limit

    def charge(
        self, project: str, method_id: str, status: int, *, quota_refused: bool = False
    ) -> LedgerEntry:
        if quota_refused or status == 401 or status >= 500:
            units = 0
        elif status < 400:
            units = cost(method_id)
        else:
            units = 1
        return self._add(project, method_id, units, status)

    def exhaust(self, project: str) -> LedgerEntry:
        return self._add(project, EXHAUSTED, max(0, self.daily_limit - self.used(project)), 200)

    def _add(self, project: str, method_id: str, units: int, status: int) -> LedgerEntry:
        now = self.clock()
        entry = LedgerEntry(now, pacific_day(now), project, method_id, units, status)
        with self._lock:
            self.entries.append(entry)
        return entry

    def report(self, project: str) -> dict[str, Any]:
        now = self.clock()
        today = pacific_day(now)
        with self._lock:
            todays = [entry for entry in self.entries if entry.project == project and entry.day == today]
        used = sum(entry.units for entry in todays)
        by_method: Counter[str] = Counter()
        calls: Counter[str] = Counter()
        for entry in todays:
            by_method[entry.method_id] += entry.units
            calls[entry.method_id] += 1
        return {
            "project": project,
            "day": today.isoformat(),
            "limit": self.daily_limit,
            "used": used,
            "remaining": max(0, self.daily_limit - used),
            "resets_at": next_reset(now).isoformat().replace("+00:00", "Z"),
            "units_by_method": dict(by_method),
            "calls_by_method": dict(calls),
            "entries": [
                {"method": entry.method_id, "units": entry.units, "status": entry.status, "at": entry.at}
                for entry in todays
            ],
        }

    def reset(self) -> None:
        with self._lock:
            self.entries.clear()
