"""The errors Google sends, in the shapes it sends them.

The YouTube Data API answers `{"error": {"code", "message", "errors": [{"message", "domain", "reason", ...}],
"status"?}}`; the reasons and domains below are the ones YouTube's error pages and real answers show. The
OAuth endpoints answer `{"error": ..., "error_description": ...}` (RFC 6749 section 5.2, as Google words it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

QUOTA_MESSAGE: Final = (
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.'
)
_CREDENTIALS_HELP: Final = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_BEARER_CHALLENGE: Final = 'Bearer realm="https://accounts.google.com/"'
_TRANSITION_HELP: Final = "https://developers.google.com/youtube/v3/live/docs/liveBroadcasts/transition"
LIVE_BROADCAST: Final = "youtube.liveBroadcast"
LIVE_STREAM: Final = "youtube.liveStream"


@dataclass(frozen=True)
class ErrorItem:
    message: str
    reason: str
    domain: str | None = "global"
    location: str | None = None
    location_type: str | None = None
    extended_help: str | None = None

    def body(self) -> dict[str, str]:
        item = {"message": self.message}
        if self.domain is not None:
            item["domain"] = self.domain
        item["reason"] = self.reason
        if self.location is not None:
            item["location"] = self.location
        if self.location_type is not None:
            item["locationType"] = self.location_type
        if self.extended_help is not None:
            item["extendedHelp"] = self.extended_help
        return item


@dataclass
class ApiError(Exception):
    code: int
    message: str
    items: list[ErrorItem]
    status: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def reason(self) -> str:
        return self.items[0].reason if self.items else ""

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "errors": [item.body() for item in self.items],
        }
        if self.status is not None:
            error["status"] = self.status
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _simple(code: int, message: str, reason: str, domain: str | None = "global", **item: Any) -> ApiError:
    return ApiError(code, message, [ErrorItem(message, reason, domain, **item)])


# --- requests the API cannot take (discovery document checks) ---


def not_found(path: str) -> ApiError:
    return ApiError(404, f"The requested URL {path} was not found on this server.", [], status="NOT_FOUND")


def not_implemented(method_id: str) -> ApiError:
    return _simple(501, f"{method_id} is in the discovery document but not emulated.", "notImplemented")


def required_parameter(name: str) -> ApiError:
    return _simple(400, f"Required parameter: {name}", "required", location=name, location_type="parameter")


def invalid_argument(message: str, field_path: str) -> ApiError:
    """The One Platform answer to a value the request message cannot hold (an unknown name, a wrong type)."""
    return ApiError(
        400,
        message,
        [ErrorItem(message, "invalid", domain=None)],
        status="INVALID_ARGUMENT",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field_path, "description": message}],
            }
        ],
    )


def out_of_range(name: str, value: str, minimum: str | None, maximum: str | None) -> ApiError:
    message = f"Invalid value '{value}'. Values must be within the range: [{minimum or ''}, {maximum or ''}]"
    return _simple(400, message, "invalidParameter", location=name, location_type="parameter")


def unknown_part(part: str) -> ApiError:
    return _simple(
        400, f"'{part}'", "unknownPart", "youtube.part", location="part", location_type="parameter"
    )


def missing_filter(names: list[str]) -> ApiError:
    return _simple(
        400,
        f"No filter selected. Expected one of: {', '.join(names)}",
        "missingRequiredParameter",
        "youtube.parameter",
        location="parameters.",
        location_type="other",
    )


def incompatible_parameters(names: list[str]) -> ApiError:
    return _simple(
        400,
        f"Incompatible parameters specified in the request: {', '.join(names)}",
        "incompatibleParameters",
        "youtube.parameter",
        location="parameters.",
        location_type="other",
    )


def invalid_page_token() -> ApiError:
    return _simple(
        400,
        "The request specifies an invalid page token.",
        "invalidPageToken",
        "youtube.parameter",
        location="pageToken",
        location_type="parameter",
    )


def media_body_required() -> ApiError:
    return _simple(400, "Media body required.", "mediaBodyRequired", location="body", location_type="other")


def bad_upload(message: str) -> ApiError:
    return _simple(400, message, "badContent", location="body", location_type="other")


# --- who may call ---


def login_required() -> ApiError:
    return ApiError(
        401,
        f"Request is missing required authentication credential. {_CREDENTIALS_HELP}",
        [ErrorItem("Login Required.", "required", location="Authorization", location_type="header")],
        status="UNAUTHENTICATED",
        headers={"WWW-Authenticate": _BEARER_CHALLENGE},
    )


def invalid_credentials() -> ApiError:
    return ApiError(
        401,
        f"Request had invalid authentication credentials. {_CREDENTIALS_HELP}",
        [ErrorItem("Invalid Credentials", "authError", location="Authorization", location_type="header")],
        status="UNAUTHENTICATED",
        headers={"WWW-Authenticate": f'{_BEARER_CHALLENGE}, error="invalid_token"'},
    )


def insufficient_scopes() -> ApiError:
    return ApiError(
        403,
        "Request had insufficient authentication scopes.",
        [ErrorItem("Insufficient Permission", "insufficientPermissions")],
        status="PERMISSION_DENIED",
        headers={"WWW-Authenticate": f'{_BEARER_CHALLENGE}, error="insufficient_scope"'},
    )


def quota_exceeded() -> ApiError:
    return _simple(403, QUOTA_MESSAGE, "quotaExceeded", "youtube.quota")


def rate_limit_exceeded() -> ApiError:
    return _simple(403, "Rate Limit Exceeded", "rateLimitExceeded", "usageLimits")


def backend_error() -> ApiError:
    message = "The service is currently unavailable."
    return ApiError(503, message, [ErrorItem(message, "backendError")], status="UNAVAILABLE")


def internal_error() -> ApiError:
    message = "Internal error encountered."
    return ApiError(500, message, [ErrorItem(message, "internalError")], status="INTERNAL")


def live_streaming_not_enabled() -> ApiError:
    return _simple(
        403,
        "The user is not enabled for live streaming.",
        "liveStreamingNotEnabled",
        LIVE_BROADCAST,
        extended_help="https://www.youtube.com/features",
    )


# --- the live broadcast rules ---


def invalid_transition() -> ApiError:
    return _simple(
        403,
        "Invalid transition",
        "invalidTransition",
        LIVE_BROADCAST,
        extended_help=f"{_TRANSITION_HELP}#params",
    )


def redundant_transition() -> ApiError:
    return _simple(403, "Redundant transition", "redundantTransition", LIVE_BROADCAST)


def stream_inactive() -> ApiError:
    return _simple(
        403, "Stream is inactive", "errorStreamInactive", LIVE_BROADCAST, extended_help=_TRANSITION_HELP
    )


def broadcast_not_found() -> ApiError:
    return _simple(
        404,
        "Broadcast not found",
        "liveBroadcastNotFound",
        LIVE_BROADCAST,
        location="id",
        location_type="parameter",
    )


def stream_not_found() -> ApiError:
    return _simple(
        404,
        "Stream not found",
        "liveStreamNotFound",
        LIVE_STREAM,
        location="streamId",
        location_type="parameter",
    )


def binding_not_allowed() -> ApiError:
    return _simple(
        403,
        "The current status of the live broadcast does not allow it to be bound to a stream.",
        "liveBroadcastBindingNotAllowed",
        LIVE_BROADCAST,
    )


def stream_deletion_not_allowed() -> ApiError:
    return _simple(
        403,
        "The specified live stream cannot be deleted because it is bound to a broadcast that has not "
        "completed.",
        "liveStreamDeletionNotAllowed",
        LIVE_STREAM,
    )


def deletion_not_allowed() -> ApiError:
    return _simple(
        403,
        "The current status of the live broadcast does not allow it to be deleted.",
        "liveBroadcastDeletionNotAllowed",
        LIVE_BROADCAST,
    )


def field_required(domain: str, reason: str, message: str) -> ApiError:
    return _simple(400, message, reason, domain)


def invalid_value(domain: str, reason: str, message: str) -> ApiError:
    return _simple(400, message, reason, domain)


def video_not_found() -> ApiError:
    return _simple(
        404,
        "The video that you are trying to insert a thumbnail image for cannot be found. Check the value of "
        "the request's <code>videoId</code> parameter to ensure that it is correct.",
        "videoNotFound",
        "youtube.thumbnail",
        location="videoId",
        location_type="parameter",
    )


def forbidden(domain: str, message: str) -> ApiError:
    return _simple(403, message, "forbidden", domain)


def invalid_image() -> ApiError:
    return _simple(400, "The provided image content is invalid.", "invalidImage", "youtube.thumbnail")


# Errors a test can ask the API to answer with (POST /emulator/faults), by reason.
INJECTABLE_FAULTS: Final = {
    "quotaExceeded": quota_exceeded,
    "rateLimitExceeded": rate_limit_exceeded,
    "backendError": backend_error,
    "internalError": internal_error,
    "liveStreamingNotEnabled": live_streaming_not_enabled,
    "authError": invalid_credentials,
    "invalidTransition": invalid_transition,
}


@dataclass
class OAuthError(Exception):
    """An error of the token or revoke endpoint: `{"error": ..., "error_description": ...}`."""

    error: str
    description: str
    status: int = 400

    def __post_init__(self) -> None:
        super().__init__(f"{self.error}: {self.description}")

    def body(self) -> bytes:
        return json.dumps({"error": self.error, "error_description": self.description}, indent=2).encode()


@dataclass
class AuthorizationRequestError(Exception):
    """A request to the authorization endpoint Google refuses with its error page (no redirect)."""

    error: str
    description: str
    status: int = 400

    def __post_init__(self) -> None:
        super().__init__(f"{self.error}: {self.description}")
