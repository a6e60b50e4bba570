"""Each of YouTube's errors maps to one plain message, an HTTP status for the API, and a next step."""

from __future__ import annotations

import json

import pytest

from playout.youtube.errors import Next, classify, classify_refresh_failure, youtube_reason


def body(reason: str, code: int = 403, message: str = "m") -> bytes:
    """An error as the YouTube Data API sends it."""
    error = {
        "code": code,
        "message": message,
        "errors": [{"reason": reason, "domain": "youtube", "message": message}],
    }
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "reason", "api_status", "next_step", "words"),
    [
        (403, "quotaExceeded", 429, Next.WAIT_FOR_RESET, "midnight Pacific time"),
        (403, "rateLimitExceeded", 503, Next.RETRY_LATER, "limiting requests"),
        (429, "userRateLimitExceeded", 503, Next.RETRY_LATER, "limiting requests"),
        (403, "liveStreamingNotEnabled", 409, Next.GIVE_UP, "youtube.com/features"),
        (403, "invalidTransition", 409, Next.REREAD, "refused to change the broadcast's status"),
        (401, "authError", 409, Next.REFRESH_ACCESS, "connect it again"),
        (500, "backendError", 503, Next.RETRY_LATER, "not answering"),
        (503, "backendError", 503, Next.RETRY_LATER, "not answering"),
        (400, "invalidValue", 422, Next.GIVE_UP, "refused the request"),
    ],
)
def test_each_youtube_error_has_its_message_status_and_next_step(
    status: int, reason: str, api_status: int, next_step: Next, words: str
) -> None:
    problem = classify(status, body(reason, status), "m")

    assert problem.reason == reason
    assert problem.error.status == api_status
    assert problem.next is next_step
    assert words in problem.error.message


def test_a_body_that_is_not_googles_shape_still_maps_by_status() -> None:
    assert youtube_reason(502, b"<html>Bad Gateway</html>") == "502"
    assert classify(502, b"<html>Bad Gateway</html>").next is Next.RETRY_LATER
    assert classify(404, None).error.status == 422


def test_a_revoked_grant_asks_for_a_reconnect_and_anything_else_for_a_retry() -> None:
    assert classify_refresh_failure("invalid_grant").next is Next.RECONNECT
    assert "connect the channel again" in classify_refresh_failure("invalid_grant").error.message
    assert classify_refresh_failure("temporarily_unavailable").next is Next.RETRY_LATER
