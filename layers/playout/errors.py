"""Domain errors; the API maps each to one HTTP status and a stable code."""

from __future__ import annotations


class PlayoutError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, str]:
        """More fields of the API's error body, beside `code` and `message` (e.g. when to try again)."""
        return {}


class NotFound(PlayoutError):
    status = 404
    code = "not_found"


class Forbidden(PlayoutError):
    status = 403
    code = "forbidden"


class InvalidState(PlayoutError):
    status = 409
    code = "invalid_state"


class QuotaExceeded(PlayoutError):
    status = 413
    code = "quota_exceeded"


class InvalidInput(PlayoutError):
    status = 422
    code = "invalid_input"


class TooManyRequests(PlayoutError):
    status = 429
    code = "too_many_requests"
