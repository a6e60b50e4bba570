"""What the workflow does after a stream task exits (`playout.workflow.next_step`): the table both Step
Functions (checked in tests/infra) and the local launcher follow."""

from __future__ import annotations

import pytest

from playout.workflow import (
    EXIT_ENDED_UNWRITTEN,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_MISCONFIGURED,
    EXIT_SETTLED,
    RETRY_POLICY,
    Action,
    RetryPolicy,
    Step,
    next_step,
)

HEALTHY = RETRY_POLICY.healthy_after_s


def test_the_exit_codes_of_the_contract() -> None:
    assert (EXIT_SETTLED, EXIT_MISCONFIGURED, EXIT_ENDED_UNWRITTEN, EXIT_FAILED, EXIT_INTERRUPTED) == (
        0,
        2,
        3,
        4,
        143,
    )


@pytest.mark.parametrize("crashes", [0, 2, 3])
def test_a_settled_exit_is_done_and_an_unwritten_end_is_written(crashes: int) -> None:
    assert next_step(EXIT_SETTLED, 5, crashes) == Step(Action.DONE)
    assert next_step(EXIT_ENDED_UNWRITTEN, 5, crashes) == Step(Action.SETTLE_ENDED)


@pytest.mark.parametrize("code", [EXIT_FAILED, EXIT_MISCONFIGURED])
def test_a_failure_for_good_is_never_retried(code: int) -> None:
    step = next_step(code, 3600, 0)
    assert step.action is Action.SETTLE_FAILED
    assert step.reason == f"the stream task failed (exit code {code})"


def test_an_interruption_resumes_at_once_without_spending_the_budget() -> None:
    assert next_step(EXIT_INTERRUPTED, 1, 2) == Step(Action.RESUME, crashes=2)
    assert next_step(EXIT_INTERRUPTED, 1, RETRY_POLICY.max_attempts) == Step(
        Action.RESUME, crashes=RETRY_POLICY.max_attempts
    )
    assert next_step(EXIT_INTERRUPTED, HEALTHY, 2) == Step(Action.RESUME, crashes=0)


def test_crashes_back_off_then_fail_with_the_reason() -> None:
    steps = []
    crashes = 0
    for _ in range(RETRY_POLICY.max_attempts + 1):
        step = next_step(137, 5, crashes)
        steps.append(step)
        crashes = step.crashes
    assert [s.action for s in steps] == [Action.RETRY] * RETRY_POLICY.max_attempts + [Action.SETTLE_FAILED]
    assert [s.delay_s for s in steps[:-1]] == RETRY_POLICY.delays()
    assert steps[-1].reason == "the stream task exited with code 137 4 times in a row; retries were exhausted"
    assert next_step(None, 0, 3).reason.startswith("the stream task could not be started 4 times")


def test_a_healthy_run_rearms_the_budget_so_weeks_of_crashes_and_interruptions_survive() -> None:
    """A month of a 24/7 stream on a shortened clock: every task runs past `healthy_after_s`, then Spot takes
    it back or it crashes, alternately, 10,000 times: the run is never failed."""
    policy = RetryPolicy(max_attempts=3, interval_s=2, backoff_rate=2.0, max_delay_s=30, healthy_after_s=10)
    crashes = 0
    for exit_number in range(10_000):
        code = EXIT_INTERRUPTED if exit_number % 2 else 1
        step = next_step(code, 11, crashes, policy)
        assert step.action in (Action.RESUME, Action.RETRY)
        crashes = step.crashes
    assert next_step(1, 9, 3, policy).action is Action.SETTLE_FAILED  # unhealthy crashes still end it


def test_retry_delays_back_off_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=5, interval_s=2, backoff_rate=2.0, max_delay_s=10, healthy_after_s=60)
    assert policy.delays() == [2, 4, 8, 10, 10]
