"""`python -m stream_task`: one run of a stream, configured by the environment (see settings.py)."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from playout.settings import YouTubeSettings
from playout.workflow import EXIT_MISCONFIGURED
from playout.youtube.broadcasts import Broadcasts
from playout.youtube.google import GoogleProject
from stream_task.launch import confined, pushers_apart
from stream_task.redact import RedactingFormatter, Redactor
from stream_task.runner import StreamRun
from stream_task.settings import TaskSettings

EXIT_CRASHED = 1  # anything but the workflow's codes: a crash, retried within the crash budget


def main() -> int:
    redactor = Redactor()
    logger = Logger(
        service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stream_task"),
        logger_formatter=RedactingFormatter(redactor),
    )
    try:
        settings = TaskSettings()  # type: ignore[call-arg]  # values come from the environment
        youtube_settings = YouTubeSettings()
    except ValidationError as error:
        logger.error(
            "invalid environment", extra={"errors": error.errors(include_url=False, include_input=False)}
        )
        return EXIT_MISCONFIGURED
    logger.append_keys(stream_id=settings.stream_id, run_id=settings.run_id)
    youtube = (
        Broadcasts(
            GoogleProject(youtube_settings),
            allow_loopback_ingests=settings.allow_loopback_ingests,
            makes_live_streams=False,  # the start made the channel's two; the task cannot encrypt a key
        )
        if youtube_settings.configured
        else None
    )
    launch = confined(settings.ffmpeg_user, settings.ffmpeg_launcher, logger)
    pusher_launch = pushers_apart(launch, settings.ffmpeg_pusher_user, logger)
    task = StreamRun(settings, logger, redactor, youtube=youtube, launch=launch, pusher_launch=pusher_launch)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        task.interrupt()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return task.run()
    except Exception:
        logger.exception("stream task crashed")
        return EXIT_CRASHED


if __name__ == "__main__":
    sys.exit(main())
