"""The emulator's HTTP face, a WSGI app (served over https and plain http by server.py):

- `/o/oauth2/v2/auth` (and `/o/oauth2/auth`), `/token`, `/revoke`: Google's OAuth 2.0 endpoints;
- `/youtube/v3/...`, `/upload/youtube/v3/...`: the YouTube Data API, every request checked against the
  discovery document, authenticated, charged to its project's quota ledger;
- `/emulator/...`: test controls (`/emulator/issued`: every secret it handed out) and the images the API's
  resources link to;
- `/emulator/rtmp/...`: nginx-rtmp's notifications (who publishes, what was recorded).
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from local.youtube_emulator import errors
from local.youtube_emulator.consent_page import CONSENT_ACTION, consent_page, error_page
from local.youtube_emulator.data_api import YouTubeDataApi, allows
from local.youtube_emulator.discovery import DiscoveryDocument
from local.youtube_emulator.errors import ApiError, AuthorizationRequestError, OAuthError
from local.youtube_emulator.ingest import EventLog
from local.youtube_emulator.live import Channel, LiveStudio, new_channel_id
from local.youtube_emulator.oauth import AccessToken, Account, GoogleAccounts, new_client
from local.youtube_emulator.quota import QuotaLedger

API_PREFIXES: Final = ("/youtube/", "/upload/", "/resumable/")
NO_STORE: Final = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}
JSON_TYPE: Final = "application/json; charset=UTF-8"

_ROUTES: Final = Map(
    [
        Rule("/o/oauth2/v2/auth", endpoint="authorize", methods=["GET"]),
        Rule("/o/oauth2/auth", endpoint="authorize", methods=["GET"]),
        Rule(CONSENT_ACTION, endpoint="consent", methods=["POST"]),
        Rule("/token", endpoint="token", methods=["POST"]),
        Rule("/revoke", endpoint="revoke", methods=["GET", "POST"]),
        Rule("/emulator", endpoint="about", methods=["GET"]),
        Rule("/emulator/reset", endpoint="reset", methods=["POST"]),
        Rule("/emulator/issued", endpoint="issued", methods=["GET"]),
        Rule("/emulator/broadcasts/<broadcast_id>", endpoint="broadcast", methods=["GET"]),
        Rule("/emulator/broadcasts/<broadcast_id>/end", endpoint="end_broadcast", methods=["POST"]),
        Rule("/emulator/streams/<stream>", endpoint="stream", methods=["GET"]),
        Rule("/emulator/grants/revoke", endpoint="revoke_grants", methods=["POST"]),
        Rule("/emulator/tokens/expire", endpoint="expire_tokens", methods=["POST"]),
        Rule("/emulator/quota", endpoint="quota", methods=["GET"]),
        Rule("/emulator/quota/exhaust", endpoint="exhaust_quota", methods=["POST"]),
        Rule("/emulator/faults", endpoint="faults", methods=["POST"]),
        Rule("/emulator/clients", endpoint="add_client", methods=["POST"]),
        Rule("/emulator/channels", endpoint="add_channel", methods=["POST"]),
        Rule("/emulator/channels/<channel_id>", endpoint="change_channel", methods=["POST"]),
        Rule("/emulator/channels/<channel_id>/avatar.png", endpoint="avatar", methods=["GET"]),
        Rule("/emulator/thumbnails/<video_id>/<size>.jpg", endpoint="thumbnail", methods=["GET"]),
        Rule("/emulator/rtmp/<call>", endpoint="rtmp", methods=["POST"]),
    ]
)


@dataclass
class _Fault:
    error: Callable[[], ApiError]
    remaining: int
    method_id: str | None


class Faults:
    """Errors the API answers the next calls with, as a test asked (`POST /emulator/faults`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scheduled: list[_Fault] = []

    def add(self, reason: str, times: int, method_id: str | None) -> None:
        with self._lock:
            self._scheduled.append(_Fault(errors.INJECTABLE_FAULTS[reason], times, method_id))

    def take(self, method_id: str) -> ApiError | None:
        with self._lock:
            for fault in self._scheduled:
                if fault.remaining > 0 and fault.method_id in (None, method_id):
                    fault.remaining -= 1
                    return fault.error()
            return None

    def clear(self) -> None:
        with self._lock:
            self._scheduled.clear()


class Ingest(Protocol):
    """What the app needs of the ingest (ingest.RtmpIngest): a hold before a publishing session starts."""

    def before_session(self, stream_name: str) -> None: ...


class EmulatorApp:
    def __init__(
        self,
        *,
        accounts: GoogleAccounts,
        studio: LiveStudio,
        data_api: YouTubeDataApi,
        discovery: DiscoveryDocument,
        ledger: QuotaLedger,
        ingest: Ingest,
        clock: Callable[[], float],
        log: EventLog,
    ) -> None:
        self.accounts = accounts
        self.studio = studio
        self.data_api = data_api
        self.discovery = discovery
        self.ledger = ledger
        self.ingest = ingest
        self.faults = Faults()
        self._clock = clock
        self.about: dict[str, Any] = {}  # the URLs, once the servers listen
        self._log = log

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except Exception as error:  # a bug of the emulator: answer as Google's 500, log the cause
            self._log.event(
                "youtube emulator error", path=request.path, error=f"{type(error).__name__}: {error}"
            )
            failure = errors.internal_error()
            response = _error_json(failure)
        # The query is left out: an access token can travel in it.
        self._log.event(
            "youtube emulator", method=request.method, path=request.path, status=response.status_code
        )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if request.path.startswith(API_PREFIXES):
            return self._api(request)
        adapter = _ROUTES.bind_to_environ(request.environ)
        try:
            endpoint, arguments = adapter.match()
        except HTTPException as error:
            return _json(error.code or 404, {"error": {"code": error.code, "message": error.description}})
        handler: Callable[..., Response] = getattr(self, f"_{endpoint}")
        return handler(request, **arguments)

    # --- OAuth 2.0 ---

    def _authorize(self, request: Request) -> Response:
        try:
            consent = self.accounts.begin(request.args.to_dict())
        except AuthorizationRequestError as error:
            return _html(error_page(error.error, error.description, error.status), error.status)
        choices = [
            (account, self.studio.channel(account.channel_id))
            for account in self.accounts.consent_page_accounts()
        ]
        return _html(consent_page(consent, choices), 200)

    def _consent(self, request: Request) -> Response:
        form = request.form
        try:
            target = self.accounts.decide(
                form.get("consent", ""), form.get("account", ""), allow=form.get("decision") == "allow"
            )
        except AuthorizationRequestError as error:
            return _html(error_page(error.error, error.description, error.status), error.status)
        return redirect(target, code=302)

    def _token(self, request: Request) -> Response:
        form = _form(request)
        basic = request.authorization
        credentials = (
            (basic.username or "", basic.password or "") if basic and basic.type == "basic" else None
        )
        try:
            client = self.accounts.authenticate_client(form, credentials)
            answer = self.accounts.token(client, form)
        except OAuthError as error:
            return Response(error.body(), status=error.status, content_type=JSON_TYPE, headers=NO_STORE)
        return _json(200, answer, NO_STORE)

    def _revoke(self, request: Request) -> Response:
        token = _form(request).get("token") or request.args.get("token", "")
        try:
            self.accounts.revoke(token)
        except OAuthError as error:
            return Response(error.body(), status=error.status, content_type=JSON_TYPE)
        return _json(200, {})

    # --- the YouTube Data API ---

    def _api(self, request: Request) -> Response:
        token: AccessToken | None = None
        method_id, quota_refused = "", False
        try:
            method, upload = self.discovery.route(request.method, request.path)
            method_id = method.id
            token = self._authenticate(request)
            project = self._project(token)
            if not self.ledger.allows(project, method.id):
                quota_refused = True
                raise errors.quota_exceeded()
            call = self.discovery.validate(
                method,
                request.args.lists(),
                request.get_data(cache=False),
                request.content_type or "",
                upload,
            )
            if not allows(method.id, token.scopes):
                raise errors.insufficient_scopes()
            fault = self.faults.take(method.id)
            if fault is not None:
                quota_refused = fault.reason == "quotaExceeded"
                raise fault
            result = self.data_api.call(call, self.studio.channel(token.account.channel_id))
            response = Response(status=204) if result is None else _json(200, result)
        except ApiError as error:
            response = _error_json(error)
        if token is not None:
            self.ledger.charge(
                self._project(token), method_id, response.status_code, quota_refused=quota_refused
            )
        return response

    def _authenticate(self, request: Request) -> AccessToken:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            presented = value.strip()
        else:
            presented = request.args.get("access_token") or request.args.get("oauth_token") or ""
        if not presented:
            raise errors.login_required()
        token = self.accounts.access(presented)
        if token is None:
            raise errors.invalid_credentials()
        return token

    def _project(self, token: AccessToken) -> str:
        return self.accounts.clients[token.client_id].project

    # --- test controls ---

    def _about(self, request: Request) -> Response:
        return _json(
            200,
            {
                **self.about,
                "channels": [_channel_view(c) for c in self.studio.channels.values()],
                "accounts": [vars(a) for a in self.accounts.accounts.values()],
                "clients": [
                    {"client_id": c.client_id, "project": c.project} for c in self.accounts.clients.values()
                ],
                "emulated_methods": sorted(self.data_api.emulated_methods),
            },
        )

    def _issued(self, request: Request) -> Response:
        """Every secret the emulator handed out (OAuth client secrets, codes, tokens; stream keys)."""
        issued = {**self.accounts.issued(), "stream_keys": self.studio.issued_stream_names()}
        return _json(200, issued, NO_STORE)

    def _reset(self, request: Request) -> Response:
        self.studio.reset()
        self.accounts.reset()
        self.ledger.reset()
        self.faults.clear()
        return _json(200, {"reset": True})

    def _broadcast(self, request: Request, broadcast_id: str) -> Response:
        try:
            broadcast = self.studio.broadcast(broadcast_id)
        except ApiError as error:
            return _error_json(error)
        return _json(
            200,
            {
                "id": broadcast.broadcast_id,
                "channelId": broadcast.channel_id,
                "lifeCycleStatus": broadcast.life_cycle.value,
                "boundStreamId": broadcast.bound_stream_id,
                "actualStartTime": broadcast.actual_start,
                "actualEndTime": broadcast.actual_end,
                "hasThumbnail": broadcast.thumbnail is not None,
                "archive": [{"path": str(s.path), "closed": s.closed} for s in broadcast.archived],
                "archiveDropped": broadcast.archive_dropped,
            },
        )

    def _end_broadcast(self, request: Request, broadcast_id: str) -> Response:
        try:
            broadcast = self.studio.end_broadcast(broadcast_id)
        except ApiError as error:
            return _error_json(error)
        return _json(200, {"id": broadcast.broadcast_id, "lifeCycleStatus": broadcast.life_cycle.value})

    def _stream(self, request: Request, stream: str) -> Response:
        found = self.studio.stream_by_name(stream) or self.studio.stream(stream)
        if found is None:
            failure = errors.stream_not_found()
            return _error_json(failure)
        return _json(
            200,
            {
                "id": found.stream_id,
                "streamName": found.stream_name,
                "streamStatus": found.status.value,
                "publishers": len(found.publishers),
                "ingestRecordings": [str(path) for path in found.ingest_recordings],
            },
        )

    def _revoke_grants(self, request: Request) -> Response:
        body = _json_body(request)
        revoked = self.accounts.revoke_grants(
            channel_id=body.get("channel_id"), refresh_token=body.get("refresh_token")
        )
        return _json(200, {"revoked": revoked})

    def _expire_tokens(self, request: Request) -> Response:
        return _json(200, {"expired": self.accounts.expire_access_tokens()})

    def _quota(self, request: Request) -> Response:
        project = self._project_named(request.args.get("project"))
        return _json(200, self.ledger.report(project)) if project else _json(400, {"error": "name a project"})

    def _exhaust_quota(self, request: Request) -> Response:
        project = self._project_named(_json_body(request).get("project"))
        if not project:
            return _json(400, {"error": "name a project"})
        self.ledger.exhaust(project)
        return _json(200, self.ledger.report(project))

    def _project_named(self, name: str | None) -> str | None:
        """A project by number or by one of its client ids; none named: the only one there is."""
        projects = {client.project for client in self.accounts.clients.values()}
        if name:
            client = self.accounts.clients.get(name)
            return client.project if client else name
        return next(iter(projects)) if len(projects) == 1 else None

    def _faults(self, request: Request) -> Response:
        body = _json_body(request)
        reason = body.get("reason", "")
        if reason not in errors.INJECTABLE_FAULTS:
            return _json(400, {"error": f"reason must be one of {sorted(errors.INJECTABLE_FAULTS)}"})
        self.faults.add(reason, int(body.get("times", 1)), body.get("method"))
        return _json(
            200, {"reason": reason, "times": int(body.get("times", 1)), "method": body.get("method")}
        )

    def _add_client(self, request: Request) -> Response:
        body = _json_body(request)
        client = self.accounts.add_client(
            new_client(tuple(body.get("redirect_uris", [])), body.get("name", "Playout"))
        )
        return _json(
            200, {**vars(client), "redirect_uris": list(client.redirect_uris), "project": client.project}
        )

    def _add_channel(self, request: Request) -> Response:
        body = _json_body(request)
        channel = self.studio.add_channel(
            Channel(
                channel_id=new_channel_id(),
                title=body.get("title", "Emulated channel"),
                published_at=self._clock(),
                live_streaming_enabled=bool(body.get("live_streaming_enabled", True)),
            )
        )
        email = body.get("email") or f"{channel.custom_url.lstrip('@')}@example.com"
        self.accounts.add_account(Account(email, channel.channel_id))
        return _json(200, {**_channel_view(channel), "email": email})

    def _change_channel(self, request: Request, channel_id: str) -> Response:
        channel = self.studio.channels.get(channel_id)
        if channel is None:
            return _json(404, {"error": "no such channel"})
        body = _json_body(request)
        if "live_streaming_enabled" in body:
            channel.live_streaming_enabled = bool(body["live_streaming_enabled"])
        return _json(200, _channel_view(channel))

    def _avatar(self, request: Request, channel_id: str) -> Response:
        return Response(solid_png(88, 88, (204, 0, 0)), content_type="image/png")

    def _thumbnail(self, request: Request, video_id: str, size: str) -> Response:
        try:
            image = self.studio.broadcast(video_id).thumbnail
        except ApiError:
            image = None
        if image is None:
            return Response(solid_png(120, 90, (96, 96, 96)), content_type="image/png")
        return Response(image.data, content_type=image.content_type)

    # --- nginx-rtmp's notifications ---

    def _rtmp(self, request: Request, call: str) -> Response:
        form = request.form
        name = form.get("name", "")
        if call == "publish":
            self.ingest.before_session(name)
            accepted = self.studio.publish_started(name, form.get("clientid", ""))
            return Response(status=200 if accepted else 403)  # nginx refuses the publisher on a non-2xx
        if call == "publish_done":
            self.studio.publish_ended(name, form.get("clientid", ""))
        elif call == "record_done":
            self.studio.recording_closed(form.get("recorder", ""), name, Path(form.get("path", "")))
        return Response(status=200)


def _channel_view(channel: Channel) -> dict[str, Any]:
    return {
        "channel_id": channel.channel_id,
        "title": channel.title,
        "live_streaming_enabled": channel.live_streaming_enabled,
    }


def _form(request: Request) -> dict[str, str]:
    if (request.content_type or "").startswith("application/json"):
        return {key: str(value) for key, value in _json_body(request).items()}
    return request.form.to_dict()


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=True) or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, indent=2), status=status, content_type=JSON_TYPE, headers=headers or {}
    )


def _error_json(error: ApiError) -> Response:
    return _json(error.code, error.body(), error.headers)


def _html(page: str, status: int) -> Response:
    return Response(
        page,
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour PNG: what the emulator shows where YouTube shows a picture it has not got."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
