"""The emulator as local mode runs it: its OAuth client registered for the gateway's callback, and what the
API is told about it. The names of those settings live here only."""

from __future__ import annotations

from contextlib import AbstractContextManager

from local.youtube_emulator.ingest import EventLog
from local.youtube_emulator.live import ARCHIVE_LIMIT_S
from local.youtube_emulator.server import RunningEmulator, running_youtube_emulator
from playout.youtube.endpoints import CALLBACK_PATH  # one of playout.resources.PUBLIC_ROUTES


def emulator_for(
    origin: str, log: EventLog, archive_limit_s: float = ARCHIVE_LIMIT_S
) -> AbstractContextManager[RunningEmulator]:
    """The emulator for local mode at `origin` (http://127.0.0.1:8080): Google redirects back there.
    `archive_limit_s`: how long a broadcast may be live and still be archived (12 h; tests shorten it)."""
    return running_youtube_emulator(
        redirect_uris=[origin + CALLBACK_PATH], log=log, archive_limit_s=archive_limit_s
    )


def api_settings(emulator: RunningEmulator) -> dict[str, str]:
    """Where the API finds Google: the emulator's endpoints, its client, the authority of its TLS."""
    urls = emulator.urls
    return {
        "YOUTUBE_CLIENT_ID": emulator.client.client_id,
        "YOUTUBE_CLIENT_SECRET": emulator.client.client_secret,
        "YOUTUBE_AUTH_URI": urls.authorization_endpoint,
        "YOUTUBE_TOKEN_URI": urls.token_endpoint,
        "YOUTUBE_REVOKE_URI": urls.revoke_endpoint,
        "YOUTUBE_API_ENDPOINT": urls.api_endpoint,
        "YOUTUBE_CA_BUNDLE": str(urls.ca_certificate),
    }
