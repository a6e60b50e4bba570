"""Google OAuth 2.0 and the YouTube Live API on one machine, with a real RTMP(S) ingest: what local mode and
the tests talk to instead of Google (docs: DESIGN.md, "Local mode"; issue 7, point 5).

    with running_youtube_emulator(redirect_uris=["http://127.0.0.1:8080/api/youtube/callback"]) as emulator:
        emulator.urls.token_endpoint, emulator.urls.api_endpoint, emulator.client.client_id, ...

Modules, each for one job: `oauth` (the authorization server), `consent_page`, `discovery` (every request
held to google-api-python-client's youtube.v3 discovery document), `data_api` (the methods and their
resources), `live` (streams, broadcasts, the lifecycle), `quota` (the ledger), `ingest` (nginx-rtmp and the
RTMPS front), `errors` (Google's error shapes), `app` (the WSGI app), `server` (starting it all).
"""

from local.youtube_emulator.server import EmulatorUrls, RunningEmulator, running_youtube_emulator

__all__ = ["EmulatorUrls", "RunningEmulator", "running_youtube_emulator"]
