"""Starting a stream's task: Step Functions in AWS; local mode installs its own launcher."""

from __future__ import annotations

import contextlib
import json
from typing import Protocol

from playout import aws
from playout.settings import get_settings


class Launcher(Protocol):
    def start(self, stream_id: str, user_id: str, run_id: str) -> None: ...


class StepFunctionsLauncher:
    def start(self, stream_id: str, user_id: str, run_id: str) -> None:
        sfn = aws.client("stepfunctions")
        with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(
                stateMachineArn=get_settings().state_machine_arn,
                name=run_id,  # one execution per run: a retried start cannot launch a second task
                input=json.dumps({"stream_id": stream_id, "user_id": user_id, "run_id": run_id}),
            )


_launcher: Launcher = StepFunctionsLauncher()


def get_launcher() -> Launcher:
    return _launcher


def set_launcher(launcher: Launcher) -> None:
    global _launcher
    _launcher = launcher
