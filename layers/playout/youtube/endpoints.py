"""Where Google answers, as Google publishes it: the defaults of `playout.settings.YouTubeSettings`, which
local mode points at its emulator instead. No dependencies: every runtime reads these."""

from __future__ import annotations

from typing import Final

GOOGLE_AUTH_URI: Final = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI: Final = "https://oauth2.googleapis.com/token"  # noqa: S105  (an endpoint, not a secret)
GOOGLE_REVOKE_URI: Final = "https://oauth2.googleapis.com/revoke"
YOUTUBE_API_ENDPOINT: Final = "https://youtube.googleapis.com/"
WATCH_URL: Final = "https://www.youtube.com/watch?v={video_id}"
CHANNEL_URL: Final = "https://www.youtube.com/channel/{channel_id}"
CALLBACK_PATH: Final = "/api/youtube/callback"  # this installation's redirect URI, under its app origin
