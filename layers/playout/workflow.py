"""The stream workflow's routing: what happens after a stream task exits.

One definition for Step Functions (infra/constructs/streaming.py builds its Choice and Wait states from
it, and tests/infra evaluates the synthesized JSONata against `next_step`) and for the local launcher
(which calls `next_step` itself).

The contract with the stream task is its exit code:

- `EXIT_SETTLED` (0): the task wrote the terminal status itself, or the run is no longer its to play.
- `EXIT_INTERRUPTED` (143): SIGTERM without a stop request (Spot reclaim); the position is saved. A new task
  for the same run starts at once, and it does not count against the crash budget.
- `EXIT_ENDED_UNWRITTEN` (3): the run is over but the task could not write `ended`: the workflow writes it
  (conditional on the run) and succeeds.
- `EXIT_FAILED` (4) and `EXIT_MISCONFIGURED` (2): the run failed for good. The workflow writes `failed` if the
  stream is still active with this run, and the execution fails either way (the failed-executions alarm).
- anything else (1 crash, 137 killed, no exit code at all: ECS errors, placement failures) is retried within
  the crash budget, which re-arms once a task has run healthy for `healthy_after_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

EXIT_SETTLED: Final = 0
EXIT_MISCONFIGURED: Final = 2
EXIT_ENDED_UNWRITTEN: Final = 3
EXIT_FAILED: Final = 4
EXIT_INTERRUPTED: Final = 143  # 128 + SIGTERM
EXIT_FAILED_FOR_GOOD: Final = (EXIT_FAILED, EXIT_MISCONFIGURED)


class Action(StrEnum):
    DONE = "done"  # the execution succeeds; nothing to write
    RESUME = "resume"  # start a new task for the same run at once
    RETRY = "retry"  # start a new task for the same run after `delay_s`
    SETTLE_ENDED = "settle_ended"  # write `ended` (conditional on the run), then succeed
    SETTLE_FAILED = "settle_failed"  # write `failed` (conditional on the run), then fail the execution


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # crashes in a row that are retried; the next one fails the stream
    interval_s: int
    backoff_rate: float
    max_delay_s: int
    healthy_after_s: int  # a task that ran this long before it exited starts a fresh budget

    def delay_s(self, crashes: int) -> float:
        """Seconds to wait before the retry that follows the `crashes`-th crash in a row (1-based)."""
        return float(min(self.interval_s * self.backoff_rate ** (crashes - 1), self.max_delay_s))

    def delays(self) -> list[float]:
        """Seconds to wait before each retry of a budget, in order."""
        return [self.delay_s(crashes) for crashes in range(1, self.max_attempts + 1)]


RETRY_POLICY: Final = RetryPolicy(
    max_attempts=3, interval_s=2, backoff_rate=2.0, max_delay_s=30, healthy_after_s=10 * 60
)


@dataclass(frozen=True)
class Step:
    action: Action
    crashes: int = 0  # crashes in a row, carried into the next task's exit
    delay_s: float = 0.0
    reason: str = ""  # for SETTLE_FAILED: what the stream's `error` says


def next_step(exit_code: int | None, ran_s: float, crashes: int, policy: RetryPolicy = RETRY_POLICY) -> Step:
    """What the workflow does after a task exits with `exit_code` (None: it never ran or ECS failed) having
    run `ran_s` seconds, `crashes` being the crashes in a row before it."""
    if exit_code == EXIT_SETTLED:
        return Step(Action.DONE)
    if exit_code == EXIT_ENDED_UNWRITTEN:
        return Step(Action.SETTLE_ENDED)
    if exit_code in EXIT_FAILED_FOR_GOOD:
        return Step(Action.SETTLE_FAILED, reason=f"the stream task failed (exit code {exit_code})")
    budget_used = 0 if ran_s >= policy.healthy_after_s else crashes
    if exit_code == EXIT_INTERRUPTED:
        return Step(Action.RESUME, crashes=budget_used)
    if budget_used >= policy.max_attempts:
        how = "could not be started" if exit_code is None else f"exited with code {exit_code}"
        return Step(
            Action.SETTLE_FAILED,
            crashes=budget_used,
            reason=f"the stream task {how} {budget_used + 1} times in a row; retries were exhausted",
        )
    return Step(Action.RETRY, crashes=budget_used + 1, delay_s=policy.delay_s(budget_used + 1))


# A task whose heartbeat is older than this is stopped so that the workflow resumes the run elsewhere.
HEARTBEAT_STALE_AFTER_S: Final = 30
# A stream `starting` whose workflow does not exist this long after the start is a launch that was lost.
LAUNCH_GRACE_S: Final = 60

# The media job's: the same exit codes and routing (`next_step`), a smaller budget that never re-arms (a
# conform that crashes after an hour would crash again), and longer waits (a crash is rarely a blip here).
MEDIA_JOB_RETRY_POLICY: Final = RetryPolicy(
    max_attempts=2, interval_s=10, backoff_rate=2.0, max_delay_s=60, healthy_after_s=7 * 24 * 3600
)
