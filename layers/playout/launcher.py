"""Starting and stopping a stream's task, and starting a media job (probe, thumbnail, conform, import):
Step Functions + ECS in AWS; local mode installs its own. Executions carry ids only, never a secret."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from playout import aws
from playout.settings import get_settings


class RunState(StrEnum):
    RUNNING = "running"  # the workflow of the run is still working on it (a task, a retry, a write)
    ENDED = "ended"  # the workflow finished (succeeded, failed, aborted, timed out)
    MISSING = "missing"  # no workflow for the run: never started, or not yet


class Launcher(Protocol):
    def start(self, stream_id: str, user_id: str, run_id: str) -> None: ...

    def stop(self, stream_id: str, user_id: str, run_id: str, task_arn: str | None) -> None:
        """Ask the run's task to stop now (SIGTERM): it sees `stopping`, ends ffmpeg and writes `ended`."""
        ...

    def start_media_job(self, media_id: str, user_id: str, job_id: str) -> None:
        """Run the media job `job_id` on the media (once: a second start of the same job is ignored)."""
        ...


@dataclass(frozen=True)
class StepFunctionsLauncher:
    """One execution per run, named by the run id; the task is stopped through ECS."""

    state_machine_arn: str | None = None  # None: from the settings, when first needed
    cluster_arn: str | None = None
    media_job_state_machine_arn: str | None = None

    def _state_machine_arn(self) -> str:
        return self.state_machine_arn or get_settings().state_machine_arn

    def _cluster_arn(self) -> str:
        return self.cluster_arn or get_settings().cluster_arn

    def start(self, stream_id: str, user_id: str, run_id: str) -> None:
        sfn = aws.client("stepfunctions")
        with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(
                stateMachineArn=self._state_machine_arn(),
                name=run_id,  # one execution per run: a retried start cannot launch a second task
                input=json.dumps({"stream_id": stream_id, "user_id": user_id, "run_id": run_id}),
            )

    def start_media_job(self, media_id: str, user_id: str, job_id: str) -> None:
        sfn = aws.client("stepfunctions")
        with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(
                stateMachineArn=self.media_job_state_machine_arn
                or get_settings().media_job_state_machine_arn,
                name=job_id,  # one execution per job: a retried complete cannot conform twice
                input=json.dumps({"media_id": media_id, "user_id": user_id, "job_id": job_id}),
            )

    def stop(self, stream_id: str, user_id: str, run_id: str, task_arn: str | None) -> None:
        self.stop_run_task(run_id, task_arn, f"stop requested for stream {stream_id}")

    # --- what the watchdog asks (playout.watchdog.RunInspector) ---

    def stop_run_task(self, run_id: str, task_arn: str | None, reason: str) -> None:
        if not task_arn:
            return  # the task has not claimed the run yet: it finds the stream `stopping` when it does
        ecs = aws.client("ecs")
        with contextlib.suppress(ecs.exceptions.InvalidParameterException):  # already gone
            ecs.stop_task(cluster=self._cluster_arn(), task=task_arn, reason=reason[:255])

    def execution_arn(self, run_id: str) -> str:
        prefix, _, name = self._state_machine_arn().rpartition(":stateMachine:")
        return f"{prefix}:execution:{name}:{run_id}"

    def run_state(self, run_id: str) -> RunState:
        sfn = aws.client("stepfunctions")
        try:
            execution = sfn.describe_execution(executionArn=self.execution_arn(run_id))
        except sfn.exceptions.ExecutionDoesNotExist:
            return RunState.MISSING
        return RunState.RUNNING if execution["status"] in ("RUNNING", "PENDING_REDRIVE") else RunState.ENDED


_launcher: Launcher = StepFunctionsLauncher()


def get_launcher() -> Launcher:
    return _launcher


def set_launcher(launcher: Launcher) -> None:
    global _launcher
    _launcher = launcher
