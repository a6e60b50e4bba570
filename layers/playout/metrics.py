"""Playout's own CloudWatch metrics: their names, units and the one dimension they carry, in one place for
the code that publishes them (the stream task, the watchdog) and for the dashboard and alarms that read them
(infra/constructs/monitoring.py).

They are written as CloudWatch embedded metric format (EMF) lines on stdout, which the process's log group
turns into metrics (Powertools' EMF provider). A batch takes only a `Metric` and a number, and its one
dimension is the stage: no stream, user or destination id (each would be a metric of its own, billed
monthly) and no free text, where an ingest URL and its stream key could hide.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

NAMESPACE: Final = "Playout"
STAGE_DIMENSION: Final = "stage"
STAGE_ENV: Final = "STAGE"  # set by the stack on each publisher: its stage, as infra/stack.py checks it
STAGE_PATTERN: Final = r"^[a-z0-9]{1,12}$"
LOCAL_STAGE: Final = "local"  # a publisher no stack configured: local mode, tests


class Metric(StrEnum):
    # The stream task, at each heartbeat (every 5 s) and at the end of its run.
    HEARTBEATS = "Heartbeats"  # heartbeats written to the database
    HEARTBEAT_FAILURES = "HeartbeatFailures"  # heartbeats the database did not take (retried)
    STREAM_SECONDS = "StreamSeconds"  # seconds of stream tasks running: Sum / period = streams with a task
    BYTES_SENT = "BytesSent"  # bytes pushed to ingests (every destination's): the egress
    RESTARTS = "Restarts"  # a reader restarted inside a task, or a new task resumed the run
    DESTINATION_FAILURES = "DestinationFailures"  # an ingest dropped the push (retrying) or was given up
    # The watchdog, at its one-minute sweep.
    ACTIVE_STREAMS = "ActiveStreams"  # streams starting, live or stopping (the active-streams index)
    SILENT_STREAMS = "SilentStreams"  # of those, the ones whose task stopped beating (stopped for a resume)
    YOUTUBE_QUOTA_USED = "YouTubeQuotaUsed"  # units the project spent today (Pacific day)
    YOUTUBE_QUOTA_LEFT = "YouTubeQuotaLeft"


UNITS: Final[dict[Metric, MetricUnit]] = {
    Metric.HEARTBEATS: MetricUnit.Count,
    Metric.HEARTBEAT_FAILURES: MetricUnit.Count,
    Metric.STREAM_SECONDS: MetricUnit.Seconds,
    Metric.BYTES_SENT: MetricUnit.Bytes,
    Metric.RESTARTS: MetricUnit.Count,
    Metric.DESTINATION_FAILURES: MetricUnit.Count,
    Metric.ACTIVE_STREAMS: MetricUnit.Count,
    Metric.SILENT_STREAMS: MetricUnit.Count,
    Metric.YOUTUBE_QUOTA_USED: MetricUnit.Count,
    Metric.YOUTUBE_QUOTA_LEFT: MetricUnit.Count,
}


def _print_line(line: str) -> None:
    print(line, flush=True)


class MetricsBatch:
    """Values gathered from any thread and written as one EMF line by `flush`. Values of the same metric
    added between two flushes are summed (counts; a gauge is added once per flush)."""

    def __init__(self, stage: str, write: Callable[[str], None] = _print_line) -> None:
        if not re.fullmatch(STAGE_PATTERN, stage):
            raise ValueError(f"a metrics stage is 1-12 lowercase letters or digits, got {stage!r}")
        self.stage = stage
        self._write = write
        self._lock = threading.Lock()
        self._values: dict[Metric, float] = {}

    def add(self, metric: Metric, value: float = 1) -> None:
        metric = Metric(metric)  # a plain string that names no metric is refused here
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"a metric's value is a number, got {type(value).__name__}")
        with self._lock:
            self._values[metric] = self._values.get(metric, 0) + value

    def flush(self) -> dict[str, object] | None:
        """Writes what was gathered as one EMF document (and returns it); None when there was nothing."""
        with self._lock:
            values, self._values = self._values, {}
        if not values:
            return None
        # An empty service leaves Powertools' `service` dimension out: the stage is the only dimension, the
        # one the dashboard and the alarms name.
        emf = AmazonCloudWatchEMFProvider(
            namespace=NAMESPACE, service="", default_dimensions={STAGE_DIMENSION: self.stage}
        )
        for metric, value in values.items():
            emf.add_metric(name=metric.value, unit=UNITS[metric], value=value)
        document: dict[str, object] = dict(emf.serialize_metric_set())
        self._write(json.dumps(document, separators=(",", ":")))
        return document
