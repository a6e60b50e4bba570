"""The stream workflow's retry policy: one definition for Step Functions (infra) and the local launcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # retries after the first attempt, as Step Functions counts them
    interval_s: int
    backoff_rate: float
    max_delay_s: int

    def delays(self) -> list[float]:
        """Seconds to wait before each retry, in order."""
        return [
            min(self.interval_s * self.backoff_rate**attempt, self.max_delay_s)
            for attempt in range(self.max_attempts)
        ]


RETRY_POLICY: Final = RetryPolicy(max_attempts=3, interval_s=2, backoff_rate=2.0, max_delay_s=30)

# A task that exits 0 has written its terminal status itself; anything else is retried, then caught.
TASK_TIMEOUT_S: Final = 7 * 24 * 3600
