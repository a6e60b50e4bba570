"""Calling the YouTube Data API for one channel: googleapiclient's static youtube.v3 client over an HTTP with
a timeout, every call charged to the project's quota ledger before it is made, and every failure turned into a
domain error with its next step (playout.youtube.errors).

- google-auth gets the channel's access token from its refresh token, and again when YouTube answers 401
  (google-auth-httplib2's AuthorizedHttp refreshes once and repeats the call).
- googleapiclient repeats what is worth repeating at once (`execute(num_retries=...)`: 5xx, 429 and
  403 rateLimitExceeded, with exponential backoff); what is left after that reaches `classify`.
- `quotaExceeded` marks the project's day spent in the ledger; `invalid_grant` on a refresh (the grant was
  revoked or expired) calls `on_revoked`, which marks the destination `needs_reconnect`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from playout.errors import PlayoutError
from playout.youtube.errors import (
    Next,
    YouTubeProblem,
    YouTubeUnavailable,
    classify,
    classify_refresh_failure,
)
from playout.youtube.google import GoogleProject
from playout.youtube.quota import YouTubeCall

logger = logging.getLogger(__name__)


class YouTubeCallError(PlayoutError):
    """A YouTube call that failed for good: the API answers its problem's error; `reason` is YouTube's."""

    def __init__(self, call: YouTubeCall, problem: YouTubeProblem) -> None:
        super().__init__(problem.error.message)
        self.status = problem.error.status
        self.code = problem.error.code
        self.call = call
        self.problem = problem

    @property
    def reason(self) -> str:
        return self.problem.reason

    def details(self) -> dict[str, str]:
        return self.problem.error.details()


def refresh_error_code(error: RefreshError) -> str:
    """OAuth's error code of a failed refresh (`invalid_grant`, ...), from google-auth's RefreshError."""
    if len(error.args) > 1 and isinstance(error.args[1], dict):
        return str(error.args[1].get("error") or "")
    text = str(error.args[0]) if error.args else ""
    return text.split(":", 1)[0].strip()


class YouTubeApi:
    """One channel's YouTube client. Not thread-safe (httplib2): one per thread."""

    def __init__(
        self,
        project: GoogleProject,
        credentials: Credentials,
        *,
        on_revoked: Callable[[], None] | None = None,
        num_retries: int | None = None,
    ) -> None:
        self._project = project
        self._ledger = project.ledger()
        self._on_revoked = on_revoked
        self._num_retries = project.settings.num_retries if num_retries is None else num_retries
        self.service: Any = build(
            "youtube",
            "v3",
            http=AuthorizedHttp(credentials, http=project.http()),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": project.settings.api_endpoint},
        )

    def execute(self, call: YouTubeCall, request: Any, *, cleanup: bool = False) -> Any:
        """Charges `call` to today's quota (YouTubeQuotaExhausted, 429, if that would pass the limit; nothing
        is sent then; a `cleanup` call is charged, never refused), sends `request`, and returns YouTube's
        answer; YouTubeCallError if it failed."""
        self._ledger.spend(call, cleanup=cleanup)
        try:
            return request.execute(num_retries=self._num_retries)
        except HttpError as error:
            problem = classify(error.status_code, error.content, _message_of(error), self._ledger.clock())
        except RefreshError as error:
            problem = classify_refresh_failure(refresh_error_code(error))
        except (TimeoutError, httplib2.HttpLib2Error, TransportError, OSError, ssl.SSLError) as error:
            logger.warning("YouTube could not be reached", extra={"call": call.value, "error": repr(error)})
            problem = YouTubeProblem(
                type(error).__name__,
                YouTubeUnavailable("YouTube could not be reached; try again in a few minutes"),
                Next.RETRY_LATER,
            )
        self._after_failure(problem)
        raise YouTubeCallError(call, problem)

    def _after_failure(self, problem: YouTubeProblem) -> None:
        if problem.next is Next.WAIT_FOR_RESET:
            self._ledger.mark_spent()
        elif problem.next is Next.RECONNECT and self._on_revoked is not None:
            self._on_revoked()


def _message_of(error: HttpError) -> str:
    try:
        return str(error._get_reason() or "").strip()
    except Exception:  # googleapiclient's own parsing of the body
        return ""
