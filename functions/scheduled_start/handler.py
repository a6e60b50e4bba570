"""The scheduled-start Lambda, invoked by a stream's EventBridge Scheduler schedule at its pre-warm time."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from playout import streams
from playout.models import bind_table
from playout.schedules import ScheduledStart
from playout.settings import get_settings, get_youtube_settings
from playout.youtube.broadcasts import broadcasts_for

SETTINGS = get_settings()  # validated at cold start
bind_table(SETTINGS.table_name)
YOUTUBE = broadcasts_for(get_youtube_settings(), SETTINGS)  # a stream's YouTube broadcasts, made at its start
logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    start = ScheduledStart.from_dict(event)
    stream = streams.start_scheduled_stream(start.user_id, start.stream_id, start.scheduled_start, YOUTUBE)
    status = None if stream is None else str(stream.status)
    logger.info("scheduled start", extra={"stream_id": start.stream_id, "status": status})
    return {"stream_id": start.stream_id, "status": status}
