"""`python -m stream_task`: one run of a stream, configured by the environment (see settings.py)."""

from __future__ import annotations

import os
import signal
import sys
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from playout.settings import YouTubeSettings
from playout.workflow import EXIT_MISCONFIGURED
from stream_task.launch import confined, pushers_apart
from stream_task.redact import RedactingFormatter, Redactor
from stream_task.runner import StreamRun
from stream_task.settings import TaskSettings

if TYPE_CHECKING:
    from playout.youtube.broadcasts import Broadcasts

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
        partial(_broadcasts, youtube_settings, settings.allow_loopback_ingests)
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


def _broadcasts(youtube_settings: YouTubeSettings, allow_loopback_ingests: bool) -> Broadcasts:
    # Imported here, by the runs that have YouTube broadcasts: Google's libraries are slow to import.
    from playout.youtube.broadcasts import Broadcasts
    from playout.youtube.google import GoogleProject

    return Broadcasts(
        GoogleProject(youtube_settings),
        allow_loopback_ingests=allow_loopback_ingests,
        makes_live_streams=False,  # the start made the channel's two; the task cannot encrypt a key
    )


if __name__ == "__main__":
    sys.exit(main())
