"""The API Lambda: thin routes that parse, call one domain function, and shape the answer."""

from __future__ import annotations

import json
import re
import warnings
from datetime import datetime
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.typing import LambdaContext

from api.errors import answers, plain_words, strict_json
from api.origin import require_origin_header
from api.schemas import (
    DESTINATION_ID,
    MEDIA_ID,
    PATTERN_MEANINGS,
    PLAYLIST_ID,
    STREAM_ID,
    CompleteMediaRequest,
    CreateDestinationRequest,
    CreatedMediaOut,
    CreateMediaRequest,
    CreatePlaylistRequest,
    CreateStreamRequest,
    DestinationOut,
    DestinationPageOut,
    EventOut,
    EventPageOut,
    ImportMediaRequest,
    MediaOut,
    MediaPageOut,
    MeOut,
    PlaylistOut,
    PlaylistPageOut,
    PresignedPartOut,
    ReplacePlaylistRequest,
    ResumedUploadOut,
    ScheduleRequest,
    StreamOut,
    StreamPageOut,
    UploadedPartOut,
    UploadOut,
    YouTubeConnectOut,
    YouTubeQuotaOut,
)
from playout import destinations, importer, media, playlists, streams, thumbnails, users
from playout import health as stream_health
from playout.errors import PlayoutError
from playout.models import Media, utcnow
from playout.settings import get_settings, get_youtube_settings
from playout.youtube import channels as youtube_channels
from playout.youtube.broadcasts import Broadcasts, broadcasts_for
from playout.youtube.endpoints import CALLBACK_PATH
from playout.youtube.google import GoogleProject, project_for
from playout.youtube.oauth import STATE_LIFETIME, ConnectRefused, Outcome
from playout.youtube.quota import QuotaLedger

SETTINGS = get_settings()  # validated at cold start: a misconfigured function fails before serving
logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="Playout")
# Most requests record no business metric; Powertools would warn about each of them.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=strict_json)
if SETTINGS.origin_secret_arn:  # in AWS: only what came through CloudFront (local mode has none)
    app.use(middlewares=[require_origin_header(SETTINGS.origin_secret_arn)])

MediaId = Annotated[str, Path(pattern=MEDIA_ID)]
DestinationId = Annotated[str, Path(pattern=DESTINATION_ID)]
PlaylistId = Annotated[str, Path(pattern=PLAYLIST_ID)]
StreamId = Annotated[str, Path(pattern=STREAM_ID)]
LimitQuery = Annotated[int, Query(ge=1, le=100)]
CursorQuery = Annotated[str | None, Query(max_length=1024)]
OAuthQuery = Annotated[str | None, Query(max_length=2048)]
# The browser that asked for Google's consent page keeps this cookie until it comes back to the callback.
CONNECT_COOKIE = "playout_youtube_connect"


def _error(status: int, code: str, message: str, details: dict[str, str] | None = None) -> Response[Any]:
    headers: dict[str, str] = {}
    if "resets_at" in (details or {}):
        headers["Retry-After"] = str(max(1, _seconds_until((details or {})["resets_at"])))
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message, **(details or {})}}),
        headers=headers,
    )


def _seconds_until(iso: str) -> int:
    return int((datetime.fromisoformat(iso.replace("Z", "+00:00")) - utcnow()).total_seconds())


@app.exception_handler(PlayoutError)
def _domain_error(error: PlayoutError) -> Response[Any]:
    return _error(error.status, error.code, error.message, error.details())


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[Any]:
    # `GET /api/media/imports` routes as a media id that fails its pattern, yet that path takes POST only.
    wrong_method = _wrong_method()
    if wrong_method is not None:
        return wrong_method
    problems = dict.fromkeys(plain_words(e, PATTERN_MEANINGS) for e in error.errors())
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_input", "; ".join(problems) or "invalid request")


@app.exception_handler(ValueError)
def _unreadable_body(error: ValueError) -> Response[Any]:
    """Powertools reads the body before validating it, as its Content-Type says: bytes that are not UTF-8, or
    a multipart body without a boundary, fail there. Any other ValueError is a bug of ours: a 500."""
    content_type = app.current_event.headers.get("content-type", "").strip().lower()
    if (
        app.current_event.body
        and content_type
        and not content_type.startswith(content_types.APPLICATION_JSON)
    ):
        return _unsupported_media_type()
    try:
        _ = app.current_event.decoded_body
    except UnicodeDecodeError:
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_input", "the request body is not UTF-8 text")
    return _unexpected(error)


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "something went wrong; try again")


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported_body(_error_: RequestUnsupportedContentType) -> Response[Any]:
    return _unsupported_media_type()


def _unsupported_media_type() -> Response[Any]:
    return _error(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as application/json"
    )


@app.not_found
def _no_route(_error_: Exception) -> Response[Any]:
    # A method the path takes means the path itself did not route (a parameter no route can match): 404.
    return _wrong_method() or _error(HTTPStatus.NOT_FOUND, "not_found", "no such route")


def _wrong_method() -> Response[Any] | None:
    """405 when the request's path is a documented one that does not take its method."""
    allowed = _methods_of(app.current_event.path)
    if allowed and app.current_event.request_context.http.method not in allowed:
        return Response(
            HTTPStatus.METHOD_NOT_ALLOWED,
            content_types.APPLICATION_JSON,
            json.dumps(
                {"error": {"code": "method_not_allowed", "message": f"use {', '.join(allowed)} on this path"}}
            ),
            headers={"Allow": ", ".join(allowed)},
        )
    return None


@cache
def _route_methods() -> list[tuple[re.Pattern[str], list[str]]]:
    """Each documented path as a pattern, with its methods: what a 405 names in its Allow header."""
    paths = app.get_openapi_schema().paths or {}
    return [
        (
            re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"),
            [m.upper() for m in ("get", "put", "post", "delete", "patch") if getattr(item, m, None)],
        )
        for path, item in sorted(paths.items(), key=lambda path_item: "{" in path_item[0])
    ]


def _methods_of(path: str) -> list[str]:
    """The methods of the documented path that `path` is; a path without parameters comes first, as in
    routing (`/api/media/imports` is not `/api/media/{media_id}`)."""
    return next((methods for pattern, methods in _route_methods() if pattern.match(path)), [])


def _caller() -> users.Caller:
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    if "sub" not in claims:
        raise PlayoutError("a signed-in user is required")
    return users.Caller(
        user_id=claims["sub"],
        email=claims.get("email"),
        username=claims.get("cognito:username") or claims.get("username"),
    )


def _user_id() -> str:
    return _caller().user_id


def _youtube() -> GoogleProject:
    """This installation's Google project (built once per settings: a warm Lambda keeps its tokens)."""
    return project_for(get_youtube_settings(), get_settings().app_origin)


def _broadcasts() -> Broadcasts:
    return broadcasts_for(get_youtube_settings(), get_settings())


@app.get("/api/health", tags=["meta"], responses=answers(HTTPStatus.OK, "the API is up", public=True))
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/openapi.json", tags=["meta"], include_in_schema=False)
def openapi() -> Response[str]:
    return Response(
        200, content_types.APPLICATION_JSON, app.get_openapi_json_schema(title="Playout", version="1")
    )


@app.get("/api/me", tags=["account"], responses=answers(HTTPStatus.OK, "the signed-in user"))
def me() -> MeOut:
    caller = _caller()
    account = users.read_account(caller, _youtube_ledger())
    profile = account.profile
    released = 0
    if users.may_have_open_uploads(profile):
        released = media.release_abandoned_uploads(caller.user_id)
    return MeOut(
        user_id=caller.user_id,
        email=profile.email,
        storage_used_bytes=max(0, int(profile.storage_used_bytes) - released),
        storage_quota_bytes=SETTINGS.storage_quota_bytes,
        active_streams=streams.active_stream_count(profile),
        max_concurrent_streams=SETTINGS.max_concurrent_streams,
        youtube_quota=YouTubeQuotaOut.of(account.youtube_quota) if account.youtube_quota else None,
    )


def _youtube_ledger() -> QuotaLedger | None:
    project = _youtube()
    if not project.configured:
        return None
    try:
        return project.ledger()
    except PlayoutError:  # the OAuth client cannot be read: no YouTube to count for
        logger.warning("youtube quota unavailable", exc_info=True)
        return None


# --- media ---


@app.post(
    "/api/media",
    tags=["media"],
    status_code=HTTPStatus.CREATED,
    responses=answers(
        HTTPStatus.CREATED,
        "the media and where to upload its parts",
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.TOO_MANY_REQUESTS,
        body=True,
    ),
)
def create_media(body: CreateMediaRequest) -> CreatedMediaOut:
    plan = media.create_upload(_user_id(), body.filename, body.size_bytes, body.content_type)
    return CreatedMediaOut(media_id=plan.media.media_id, upload=_upload_out(plan))


def _upload_out(plan: media.UploadPlan) -> UploadOut:
    return UploadOut(
        upload_id=plan.upload_id,
        part_size=plan.part_size,
        parts=[
            PresignedPartOut(part_number=p.part_number, url=p.url, size_bytes=p.size_bytes)
            for p in plan.parts
        ],
    )


@app.get(
    "/api/media/<media_id>/upload",
    tags=["media"],
    responses=answers(HTTPStatus.OK, "the upload, resumable", HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT),
)
def resume_media_upload(media_id: MediaId) -> ResumedUploadOut:
    """An upload under way, afresh: new part URLs and the parts already stored (to resume it)."""
    plan, uploaded = media.resume_upload(_user_id(), media_id)
    return ResumedUploadOut(
        media_id=media_id,
        upload=_upload_out(plan),
        uploaded_parts=[
            UploadedPartOut(part_number=p.part_number, etag=p.etag, size_bytes=p.size_bytes) for p in uploaded
        ],
    )


@app.post(
    "/api/media/<media_id>/complete",
    tags=["media"],
    responses=answers(
        HTTPStatus.OK,
        "the media, probing",
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        body=True,
    ),
)
def complete_media(media_id: MediaId, body: CompleteMediaRequest) -> MediaOut:
    parts = [(p.part_number, p.etag) for p in body.parts]
    completed = media.complete_upload(_user_id(), media_id, parts)
    if completed.status == media.PROBING:
        metrics.add_metric(name="MediaUploadedBytes", unit=MetricUnit.Bytes, value=int(completed.size_bytes))
    return _media_out(completed)


@app.post(
    "/api/media/imports",
    tags=["media"],
    status_code=HTTPStatus.ACCEPTED,
    responses=answers(
        HTTPStatus.ACCEPTED,
        "the media, importing",
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.TOO_MANY_REQUESTS,
        body=True,
    ),
)
def import_media(body: ImportMediaRequest) -> MediaOut:
    importer.check_import_url(body.url, allow_loopback=get_settings().allow_loopback_imports)
    return _media_out(media.create_import(_user_id(), body.url.strip(), importer.filename_of(body.url)))


@app.get("/api/media", tags=["media"], responses=answers(HTTPStatus.OK, "a page of media"))
def list_media(limit: LimitQuery = 25, cursor: CursorQuery = None) -> MediaPageOut:
    return MediaPageOut.of(media.list_media(_user_id(), limit, cursor), _media_out)


@app.get(
    "/api/media/<media_id>",
    tags=["media"],
    responses=answers(HTTPStatus.OK, "the media", HTTPStatus.NOT_FOUND),
)
def get_media(media_id: MediaId) -> MediaOut:
    return _media_out(media.get_media(_user_id(), media_id))


def _media_out(item: Media) -> MediaOut:
    settings = get_settings()

    def thumbnail_url(key: str) -> str:
        return thumbnails.thumbnail_url(settings.media_bucket, key, settings.s3_addressing_style)

    return MediaOut.of(item, thumbnail_url)


@app.delete(
    "/api/media/<media_id>",
    tags=["media"],
    status_code=HTTPStatus.NO_CONTENT,
    responses=answers(
        HTTPStatus.NO_CONTENT, "deleted", HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT, content=False
    ),
)
def delete_media(media_id: MediaId) -> Response[None]:
    media.delete_media(_user_id(), media_id, active_statuses=streams.ACTIVE)
    return Response(HTTPStatus.NO_CONTENT)


# --- destinations ---


@app.post(
    "/api/destinations",
    tags=["destinations"],
    status_code=HTTPStatus.CREATED,
    responses=answers(HTTPStatus.CREATED, "the destination", HTTPStatus.CONFLICT, body=True),
)
def create_destination(body: CreateDestinationRequest) -> DestinationOut:
    return DestinationOut.of(
        destinations.create_destination(
            _user_id(),
            body.name,
            body.url,
            body.stream_key,
            allow_loopback=SETTINGS.allow_loopback_ingests,
        )
    )


@app.get(
    "/api/destinations", tags=["destinations"], responses=answers(HTTPStatus.OK, "a page of destinations")
)
def list_destinations(limit: LimitQuery = 25, cursor: CursorQuery = None) -> DestinationPageOut:
    return DestinationPageOut.of(destinations.list_destinations(_user_id(), limit, cursor), DestinationOut.of)


@app.get(
    "/api/destinations/<destination_id>",
    tags=["destinations"],
    responses=answers(HTTPStatus.OK, "the destination", HTTPStatus.NOT_FOUND),
)
def get_destination(destination_id: DestinationId) -> DestinationOut:
    return DestinationOut.of(destinations.get_destination(_user_id(), destination_id))


@app.delete(
    "/api/destinations/<destination_id>",
    tags=["destinations"],
    status_code=HTTPStatus.NO_CONTENT,
    responses=answers(
        HTTPStatus.NO_CONTENT,
        "deleted",
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.SERVICE_UNAVAILABLE,
        content=False,
    ),
)
def delete_destination(destination_id: DestinationId) -> Response[None]:
    """Deletes a destination; a YouTube channel's access is revoked at Google first (503 if Google cannot be
    reached: nothing is deleted then)."""
    user_id = _user_id()
    in_use = streams.uses(streams.active_streams(user_id), destination_id=destination_id)
    channel = destinations.delete_rtmp_destination(user_id, destination_id, in_use=in_use)
    if channel is not None:
        youtube_channels.revoke_and_delete(_youtube(), user_id, channel, in_use=in_use)
    return Response(HTTPStatus.NO_CONTENT)


# --- YouTube channels ---


def _cookie(name: str) -> str | None:
    """A cookie of the request (payload 2.0 lists them apart from the headers, as `name=value`)."""
    for cookie in app.current_event.cookies or []:
        key, _, value = cookie.strip().partition("=")
        if key == name:
            return value
    return None


@app.post(
    "/api/youtube/connect",
    tags=["youtube"],
    responses=answers(HTTPStatus.OK, "Google's consent page", HTTPStatus.SERVICE_UNAVAILABLE),
)
def connect_youtube() -> Response[YouTubeConnectOut]:
    """Google's consent page for connecting a YouTube channel (offline access, PKCE, a state bound to the
    signed-in user and to this browser by a cookie, valid once for 10 minutes). Google then sends the
    browser to `GET /api/youtube/callback`."""
    project = _youtube()
    start = youtube_channels.begin_connect(project, _user_id())
    cookie = Cookie(
        name=CONNECT_COOKIE,
        value=start.browser_nonce,
        path=CALLBACK_PATH,
        secure=project.app_origin.startswith("https://"),
        http_only=True,
        same_site=SameSite.LAX_MODE,  # sent on Google's top-level redirect back, not on cross-site requests
        max_age=int(STATE_LIFETIME.total_seconds()),
    )
    return Response(
        HTTPStatus.OK,
        content_types.APPLICATION_JSON,
        YouTubeConnectOut(authorization_url=start.authorization_url),
        headers={"Cache-Control": "no-store"},
        cookies=[cookie],
    )


@app.get(
    CALLBACK_PATH,
    tags=["youtube"],
    responses=answers(
        HTTPStatus.FOUND, "back to the app, the outcome in the URL's fragment", public=True, content=False
    ),
)
def youtube_callback(
    state: OAuthQuery = None, code: OAuthQuery = None, error: OAuthQuery = None
) -> Response[None]:
    """Public (Google's redirect carries no JWT; the state and the browser's cookie stand for the user). Ends
    in a redirect to the app with the outcome in the URL's fragment (`#youtube=connected&destination_id=...`,
    or `denied`, `expired`, `failed` with a `message`); never a token in the URL."""
    project = _youtube()
    answer: dict[str, str]
    try:
        connected = youtube_channels.finish_connect(
            project,
            state=state or "",
            browser_nonce=_cookie(CONNECT_COOKIE),
            code=code,
            error=error,
        )
        answer = {"youtube": Outcome.CONNECTED, "destination_id": str(connected.destination.destination_id)}
        metrics.add_metric(name="YouTubeChannelsConnected", unit=MetricUnit.Count, value=1)
    except ConnectRefused as refused:
        logger.info("youtube connect refused", extra={"outcome": refused.outcome})
        answer = {"youtube": refused.outcome, "message": refused.message}
    except PlayoutError as failed:
        answer = {"youtube": Outcome.FAILED, "message": failed.message}
    except Exception:  # a database or KMS error: the browser still goes back to the app, with words
        logger.exception("youtube connect failed")
        answer = {"youtube": Outcome.FAILED, "message": "Playout could not save the channel; try again"}
    forget = Cookie(
        name=CONNECT_COOKIE,
        value="",
        path=CALLBACK_PATH,
        secure=project.app_origin.startswith("https://"),
        http_only=True,
        max_age=0,
    )
    return Response(
        HTTPStatus.FOUND,
        headers={
            "Location": f"{project.app_origin}/#{urlencode(answer)}",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
        cookies=[forget],
    )


# --- playlists ---


@app.post(
    "/api/playlists",
    tags=["playlists"],
    status_code=HTTPStatus.CREATED,
    responses=answers(HTTPStatus.CREATED, "the playlist", body=True),
)
def create_playlist(body: CreatePlaylistRequest) -> PlaylistOut:
    return PlaylistOut.of(playlists.create_playlist(_user_id(), body.name, body.media_ids, body.shuffle))


@app.get("/api/playlists", tags=["playlists"], responses=answers(HTTPStatus.OK, "a page of playlists"))
def list_playlists(limit: LimitQuery = 25, cursor: CursorQuery = None) -> PlaylistPageOut:
    return PlaylistPageOut.of(playlists.list_playlists(_user_id(), limit, cursor), PlaylistOut.of)


@app.get(
    "/api/playlists/<playlist_id>",
    tags=["playlists"],
    responses=answers(HTTPStatus.OK, "the playlist", HTTPStatus.NOT_FOUND),
)
def get_playlist(playlist_id: PlaylistId) -> PlaylistOut:
    return PlaylistOut.of(playlists.get_playlist(_user_id(), playlist_id))


@app.put(
    "/api/playlists/<playlist_id>",
    tags=["playlists"],
    responses=answers(HTTPStatus.OK, "the playlist as stated", HTTPStatus.NOT_FOUND, body=True),
)
def replace_playlist(playlist_id: PlaylistId, body: ReplacePlaylistRequest) -> PlaylistOut:
    return PlaylistOut.of(
        playlists.update_playlist(_user_id(), playlist_id, body.name, body.media_ids, body.shuffle)
    )


@app.delete(
    "/api/playlists/<playlist_id>",
    tags=["playlists"],
    status_code=HTTPStatus.NO_CONTENT,
    responses=answers(HTTPStatus.NO_CONTENT, "deleted", HTTPStatus.NOT_FOUND, content=False),
)
def delete_playlist(playlist_id: PlaylistId) -> Response[None]:
    playlists.delete_playlist(_user_id(), playlist_id)
    return Response(HTTPStatus.NO_CONTENT)


# --- streams ---


@app.post(
    "/api/streams",
    tags=["streams"],
    status_code=HTTPStatus.CREATED,
    responses=answers(
        HTTPStatus.CREATED,
        "the stream, draft or scheduled",
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.SERVICE_UNAVAILABLE,
        body=True,
    ),
)
def create_stream(body: CreateStreamRequest) -> StreamOut:
    spec = streams.StreamSpec(
        title=body.title,
        description=body.description,
        privacy=body.privacy,
        media_ids=body.media_ids or [],
        destination_ids=body.destination_ids,
        loop=body.loop,
        duration_s=body.duration_s,
        playlist_id=body.playlist_id,
        shuffle=body.shuffle,
        loops=body.loops,
        handover_after_h=body.handover_after_h,
        scheduled_start=body.scheduled_start,
        made_for_kids=body.youtube.made_for_kids,
        latency_preference=body.youtube.latency_preference,
        enable_dvr=body.youtube.enable_dvr,
    )
    return _stream_out(streams.create_stream(_user_id(), spec, _broadcasts()))


def _stream_out(view: streams.StreamView) -> StreamOut:
    return StreamOut.of(view.stream, view.health)


@app.get("/api/streams", tags=["streams"], responses=answers(HTTPStatus.OK, "a page of streams"))
def list_streams(limit: LimitQuery = 25, cursor: CursorQuery = None) -> StreamPageOut:
    page = streams.list_streams(_user_id(), limit, cursor)
    items = stream_health.read_many(_user_id(), [s.stream_id for s in page.items])
    return StreamPageOut.of(page, lambda stream: StreamOut.of(stream, items.get(stream.stream_id)))


@app.get(
    "/api/streams/<stream_id>",
    tags=["streams"],
    responses=answers(HTTPStatus.OK, "the stream", HTTPStatus.NOT_FOUND),
)
def get_stream(stream_id: StreamId) -> StreamOut:
    return _stream_out(streams.read_view(_user_id(), stream_id))


@app.delete(
    "/api/streams/<stream_id>",
    tags=["streams"],
    status_code=HTTPStatus.NO_CONTENT,
    responses=answers(
        HTTPStatus.NO_CONTENT, "deleted", HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT, content=False
    ),
)
def delete_stream(stream_id: StreamId) -> Response[None]:
    streams.delete_stream(_user_id(), stream_id)
    return Response(HTTPStatus.NO_CONTENT)


@app.post(
    "/api/streams/<stream_id>/start",
    tags=["streams"],
    status_code=HTTPStatus.ACCEPTED,
    responses=answers(
        HTTPStatus.ACCEPTED,
        "the stream, starting",
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.TOO_MANY_REQUESTS,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ),
)
def start_stream(stream_id: StreamId) -> StreamOut:
    view = streams.start_stream(_user_id(), stream_id, _broadcasts())
    metrics.add_metric(name="StreamStartRequests", unit=MetricUnit.Count, value=1)
    return _stream_out(view)


@app.post(
    "/api/streams/<stream_id>/stop",
    tags=["streams"],
    status_code=HTTPStatus.ACCEPTED,
    responses=answers(HTTPStatus.ACCEPTED, "the stream, stopping", HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT),
)
def stop_stream(stream_id: StreamId) -> StreamOut:
    return _stream_out(streams.stop_stream(_user_id(), stream_id))


@app.put(
    "/api/streams/<stream_id>/schedule",
    tags=["streams"],
    responses=answers(
        HTTPStatus.OK,
        "the stream, scheduled",
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.TOO_MANY_REQUESTS,
        HTTPStatus.SERVICE_UNAVAILABLE,
        body=True,
    ),
)
def reschedule_stream(stream_id: StreamId, body: ScheduleRequest) -> StreamOut:
    return _stream_out(streams.reschedule_stream(_user_id(), stream_id, body.scheduled_start, _broadcasts()))


@app.delete(
    "/api/streams/<stream_id>/schedule",
    tags=["streams"],
    responses=answers(HTTPStatus.OK, "the stream, a draft again", HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT),
)
def cancel_schedule(stream_id: StreamId) -> StreamOut:
    return _stream_out(streams.cancel_schedule(_user_id(), stream_id))


@app.get(
    "/api/streams/<stream_id>/events",
    tags=["streams"],
    responses=answers(HTTPStatus.OK, "a page of the stream's events", HTTPStatus.NOT_FOUND),
)
def list_events(stream_id: StreamId, limit: LimitQuery = 50, cursor: CursorQuery = None) -> EventPageOut:
    return EventPageOut.of(streams.list_events(_user_id(), stream_id, limit, cursor), EventOut.of)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
