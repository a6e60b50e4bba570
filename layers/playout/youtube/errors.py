"""What YouTube's errors mean for Playout: one plain message each, and what to do next.

google-api-python-client already retries what is worth retrying at once (`execute(num_retries=...)`: 5xx,
429, and 403 `rateLimitExceeded`/`userRateLimitExceeded`, with exponential backoff); what reaches this module
is what was left after those retries, or an error no retry can fix. Each becomes a `YouTubeProblem`: the
domain error the API answers with, and the `Next` step its caller takes (the quota ledger marks the day
spent on `quotaExceeded`; a 401 gets one token refresh; `invalidTransition` re-reads the broadcast).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from playout.errors import InvalidInput, InvalidState, PlayoutError
from playout.models import utcnow
from playout.youtube.quota import YouTubeQuotaExhausted, next_reset


class YouTubeUnavailable(PlayoutError):
    status = 503
    code = "youtube_unavailable"


class ChannelNeedsAction(PlayoutError):
    """Something only the channel's owner can fix on YouTube (live streaming not enabled, a reconnect)."""

    status = 409
    code = "youtube_channel_needs_action"


class Next(enum.StrEnum):
    GIVE_UP = "give_up"  # tell the user; retrying changes nothing
    WAIT_FOR_RESET = "wait_for_reset"  # the project's quota is spent until midnight Pacific
    REFRESH_ACCESS = "refresh_access"  # once; if the refresh fails with invalid_grant, reconnect
    RECONNECT = "reconnect"  # the grant is gone: the destination needs_reconnect
    REREAD = "reread"  # the broadcast is not where we thought: read it, then decide
    RETRY_LATER = "retry_later"  # YouTube's side, still failing after the client's own retries


@dataclass(frozen=True)
class YouTubeProblem:
    reason: str  # YouTube's own reason code (`quotaExceeded`, ...), or the HTTP status
    error: PlayoutError
    next: Next


ENABLE_LIVE_STREAMING_URL = "https://www.youtube.com/features"


def youtube_reason(status: int, content: bytes | str | None) -> str:
    """The first `errors[].reason` of a Google API error body (`{"error": {"errors": [{"reason"}]}}`)."""
    try:
        body: Any = json.loads(content or b"{}")
        errors = body["error"].get("errors") or []
        return str(errors[0]["reason"]) if errors else str(body["error"].get("status") or status)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return str(status)


def classify(
    status: int, content: bytes | str | None, message: str = "", now: datetime | None = None
) -> YouTubeProblem:
    """What a YouTube Data API error means; `message` is YouTube's own words, kept where they help."""
    reason = youtube_reason(status, content)
    said = f": {message}" if message else ""
    if reason in ("quotaExceeded", "dailyLimitExceeded"):
        resets_at = next_reset(now or utcnow())
        return YouTubeProblem(
            reason,
            YouTubeQuotaExhausted(
                f"YouTube's daily API quota is spent; it resets at {resets_at:%Y-%m-%d %H:%M} UTC "
                "(midnight Pacific time)",
                resets_at,
            ),
            Next.WAIT_FOR_RESET,
        )
    if reason in ("rateLimitExceeded", "userRateLimitExceeded") or status == 429:
        return YouTubeProblem(
            reason,
            YouTubeUnavailable("YouTube is limiting requests; try again in a minute"),
            Next.RETRY_LATER,
        )
    if reason == "liveStreamingNotEnabled":
        return YouTubeProblem(
            reason,
            ChannelNeedsAction(
                "live streaming is not enabled on this YouTube channel: enable it at "
                f"{ENABLE_LIVE_STREAMING_URL} (YouTube can take 24 hours to allow it)"
            ),
            Next.GIVE_UP,
        )
    if reason in ("invalidTransition", "redundantTransition", "errorStreamInactive"):
        return YouTubeProblem(
            reason,
            InvalidState(f"YouTube refused to change the broadcast's status{said}"),
            Next.REREAD,
        )
    if status == 401:
        return YouTubeProblem(
            reason,
            ChannelNeedsAction("YouTube no longer accepts this channel's sign-in; connect it again"),
            Next.REFRESH_ACCESS,
        )
    if reason in ("forbidden", "insufficientPermissions", "livePermissionBlocked", "liveBroadcastNotFound"):
        return YouTubeProblem(
            reason, ChannelNeedsAction(f"YouTube refused this for the channel{said}"), Next.GIVE_UP
        )
    if status >= 500:
        return YouTubeProblem(
            reason,
            YouTubeUnavailable("YouTube is not answering; try again in a few minutes"),
            Next.RETRY_LATER,
        )
    return YouTubeProblem(reason, InvalidInput(f"YouTube refused the request{said}"), Next.GIVE_UP)


def classify_refresh_failure(error_code: str) -> YouTubeProblem:
    """google-auth's RefreshError: `invalid_grant` is a revoked or expired grant; anything else is Google's
    side (retry later)."""
    if error_code == "invalid_grant":
        return YouTubeProblem(
            error_code,
            ChannelNeedsAction("YouTube access was revoked or has expired; connect the channel again"),
            Next.RECONNECT,
        )
    return YouTubeProblem(
        error_code,
        YouTubeUnavailable("Google's sign-in service is not answering; try again"),
        Next.RETRY_LATER,
    )
