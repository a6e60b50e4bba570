"""The stream watchdog Lambda: ECS task state changes (STOPPED) of the stream cluster, the stream workflow's
executions ending, and a one-minute sweep.

They settle runs whose task died without writing the stream's status, end the YouTube broadcasts of runs
that are over, and stop tasks whose heartbeat is stale (see `playout.watchdog`). Each sweep publishes what it
saw as metrics (playout.metrics): the active streams, the silent ones (the heartbeat alarm's), and the
YouTube quota left today."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from playout import watchdog
from playout.launcher import StepFunctionsLauncher
from playout.metrics import LOCAL_STAGE, STAGE_PATTERN, Metric, MetricsBatch
from playout.models import bind_table
from playout.settings import YouTubeSettings
from playout.youtube.broadcasts import Broadcasts
from playout.youtube.google import GoogleProject, YouTubeNotConfigured


class WatchdogSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(min_length=3)
    state_machine_arn: str = Field(min_length=20)
    cluster_arn: str = Field(min_length=20)
    stage: str = Field(default=LOCAL_STAGE, pattern=STAGE_PATTERN)  # the metrics' dimension


SETTINGS = WatchdogSettings()  # type: ignore[call-arg]  # validated at cold start, from the environment
bind_table(SETTINGS.table_name)
INSPECTOR = StepFunctionsLauncher(
    state_machine_arn=SETTINGS.state_machine_arn, cluster_arn=SETTINGS.cluster_arn
)
# A run whose task died leaves its YouTube broadcasts live: the watchdog ends them (complete, or delete).
GOOGLE = GoogleProject(YouTubeSettings())
YOUTUBE = Broadcasts(GOOGLE)
TASK_STATE_CHANGE = "ECS Task State Change"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
logger = Logger()
tracer = Tracer()
metrics = MetricsBatch(SETTINGS.stage)


def run_of(detail: dict[str, Any]) -> tuple[str, str, str] | None:
    """(user_id, stream_id, run_id) from a stopped task's container overrides, as the workflow set them."""
    for override in (detail.get("overrides") or {}).get("containerOverrides") or []:
        env = {e.get("name"): e.get("value") for e in override.get("environment") or []}
        if env.get("USER_ID") and env.get("STREAM_ID") and env.get("RUN_ID"):
            return env["USER_ID"], env["STREAM_ID"], env["RUN_ID"]
    return None


def run_of_execution(detail: dict[str, Any]) -> tuple[str, str, str] | None:
    """(user_id, stream_id, run_id) from an ended execution's input (`{stream_id, user_id, run_id}`)."""
    try:
        given = json.loads(detail.get("input") or "")
    except ValueError:
        return None
    if not isinstance(given, dict):
        return None
    user_id, stream_id, run_id = given.get("user_id"), given.get("stream_id"), given.get("run_id")
    if isinstance(user_id, str) and isinstance(stream_id, str) and isinstance(run_id, str):
        return user_id, stream_id, run_id
    return None


def publish_sweep(swept: watchdog.Sweep, google: GoogleProject, batch: MetricsBatch) -> None:
    """The sweep's counts, published every minute (0 included: a missing value means no sweep ran), and the
    YouTube project's quota today where YouTube is set up."""
    batch.add(Metric.ACTIVE_STREAMS, swept.active_streams)
    batch.add(Metric.SILENT_STREAMS, swept.silent_streams)
    if google.configured:
        try:
            day = google.ledger().today()
        except YouTubeNotConfigured as error:
            logger.warning("YouTube quota not read", extra={"error": error.message})
        else:
            batch.add(Metric.YOUTUBE_QUOTA_USED, day.used)
            batch.add(Metric.YOUTUBE_QUOTA_LEFT, day.left)
    batch.flush()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    kind = event.get("detail-type")
    if kind in (TASK_STATE_CHANGE, EXECUTION_STATUS_CHANGE):
        detail = event.get("detail") or {}
        run = run_of(detail) if kind == TASK_STATE_CHANGE else run_of_execution(detail)
        if run is None:
            return _acted([])
        finding = watchdog.check_run(*run, INSPECTOR, end_broadcasts=YOUTUBE.end_broadcasts)
        return _acted([finding] if finding else [])
    swept = watchdog.sweep_all(INSPECTOR, end_broadcasts=YOUTUBE.end_broadcasts)
    answer = _acted(swept.findings)
    publish_sweep(swept, GOOGLE, metrics)
    return answer


def _acted(findings: list[watchdog.Finding]) -> dict[str, Any]:
    for found in findings:
        logger.warning("watchdog acted", extra={**found.__dict__})
    return {"findings": [found.__dict__ for found in findings]}
