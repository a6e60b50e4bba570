"""The YouTube emulator (local/youtube_emulator) against Google's own client libraries, unchanged but for the
URIs they are pointed at: google-auth for the OAuth endpoints, googleapiclient's static youtube.v3 client for
the API, a real ffmpeg publishing to the ingestion address the API hands out.

The emulator speaks TLS with its own authority. A client trusts it as any deployment trusts a private
authority: `REQUESTS_CA_BUNDLE` for requests (google-auth), and httplib2's CA_CERTS, which httplib2 reads from
`HTTPLIB2_CA_CERTS` when it is imported (already done here, so the module's fixture sets it directly)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import httplib2
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.oauth2 import _client as google_token_endpoint
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaInMemoryUpload

from local.youtube_emulator import RunningEmulator, running_youtube_emulator
from local.youtube_emulator.app import solid_png
from local.youtube_emulator.ingest import RtmpIngest
from local.youtube_emulator.quota import QuotaLedger, next_reset
from tests.integration.youtube_world import publishing
from tests.media_probe import probe

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIRECT_URI = "http://127.0.0.1:8080/api/youtube/callback"
YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube"
STARTING_DELAY_S = 0.3
AUTO_STOP_DELAY_S = 1.0
PUBLISH_S = 6


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    for tool in ("nginx", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            pytest.fail(f"the YouTube emulator's tests need {tool} (make system-deps)", pytrace=False)
    with (
        running_youtube_emulator(
            redirect_uris=[REDIRECT_URI],
            starting_delay_s=STARTING_DELAY_S,
            auto_stop_delay_s=AUTO_STOP_DELAY_S,
        ) as running,
        pytest.MonkeyPatch.context() as patch,
    ):
        trusted = str(running.urls.ca_certificate)
        patch.setenv("REQUESTS_CA_BUNDLE", trusted)
        patch.setattr(httplib2, "CA_CERTS", trusted)
        yield running


@pytest.fixture(autouse=True)
def fresh(emulator: RunningEmulator) -> Iterator[None]:
    yield
    control(emulator, "POST", "/reset")


# --- helpers: what a person, Google's libraries and an encoder do ---


def control(emulator: RunningEmulator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.request(method, emulator.urls.controls + path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Consent:
    code: str
    state: str
    scope: str
    verifier: str


def consent(
    emulator: RunningEmulator, *, allow: bool = True, offline: bool = True, scope: str = YOUTUBE_SCOPE
) -> Consent:
    """A person on the consent page: the authorization request a web app sends, then a click on Allow/Deny."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    page = requests.get(
        emulator.urls.authorization_endpoint,
        params={
            "client_id": emulator.client.client_id,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "access_type": "offline" if offline else "online",
            "prompt": "consent",
        },
        timeout=10,
    )
    assert page.status_code == 200, page.text
    assert ">Allow</button>" in page.text
    assert ">Deny</button>" in page.text
    form = dict(re.findall(r'name="(consent|account)" value="([^"]+)"', page.text))
    answer = requests.post(
        emulator.urls.base + "/o/oauth2/v2/auth/consent",
        data={**form, "decision": "allow" if allow else "deny"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    query = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == state
    if not allow:
        assert query["error"] == "access_denied"
        return Consent("", state, "", verifier)
    return Consent(query["code"], state, query["scope"], verifier)


def exchange(emulator: RunningEmulator, code: str, verifier: str) -> dict[str, Any]:
    """The code exchange through google-auth's token endpoint client (what its grants post), body as Google
    documents it for web server apps: client_secret_post, PKCE verifier, the same redirect URI."""
    return dict(
        google_token_endpoint._token_endpoint_request(
            google.auth.transport.requests.Request(),
            emulator.urls.token_endpoint,
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": emulator.client.client_id,
                "client_secret": emulator.client.client_secret,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            can_retry=False,
        )
    )


def credentials(emulator: RunningEmulator, tokens: dict[str, Any]) -> Credentials:
    return Credentials(
        tokens["access_token"],
        refresh_token=tokens.get("refresh_token"),
        token_uri=emulator.urls.token_endpoint,
        client_id=emulator.client.client_id,
        client_secret=emulator.client.client_secret,
    )


def connected(emulator: RunningEmulator) -> Credentials:
    granted = consent(emulator)
    return credentials(emulator, exchange(emulator, granted.code, granted.verifier))


def youtube_client(emulator: RunningEmulator, creds: Credentials) -> Any:
    return build(
        "youtube",
        "v3",
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": emulator.urls.api_endpoint},
    )


@pytest.fixture
def youtube(emulator: RunningEmulator) -> Any:
    return youtube_client(emulator, connected(emulator))


def google_error(error: HttpError) -> dict[str, Any]:
    return dict(json.loads(error.content)["error"])


def reason(error: HttpError) -> str:
    return str(google_error(error)["errors"][0]["reason"])


def new_stream(youtube: Any) -> dict[str, Any]:
    return dict(
        youtube.liveStreams()
        .insert(
            part="snippet,cdn,contentDetails,status",
            body={
                "snippet": {"title": "Playout"},
                "cdn": {"ingestionType": "rtmp", "resolution": "variable", "frameRate": "variable"},
                "contentDetails": {"isReusable": True},
            },
        )
        .execute()
    )


def new_broadcast(youtube: Any, **content_details: Any) -> dict[str, Any]:
    return dict(
        youtube.liveBroadcasts()
        .insert(
            part="snippet,status,contentDetails",
            body={
                "snippet": {"title": "A loop", "scheduledStartTime": "2030-01-01T12:00:00Z"},
                "status": {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": False},
                "contentDetails": {"latencyPreference": "normal", "enableDvr": True, **content_details},
            },
        )
        .execute()
    )


def broadcast_status(youtube: Any, broadcast_id: str) -> str:
    items = youtube.liveBroadcasts().list(part="status", id=broadcast_id).execute()["items"]
    return str(items[0]["status"]["lifeCycleStatus"])


def transition_broadcast(
    youtube: Any, broadcast_id: str, status: str, part: str = "status"
) -> dict[str, Any]:
    return dict(
        youtube.liveBroadcasts().transition(part=part, id=broadcast_id, broadcastStatus=status).execute()
    )


def stream_status(youtube: Any, stream_id: str) -> dict[str, Any]:
    return dict(youtube.liveStreams().list(part="status", id=stream_id).execute()["items"][0]["status"])


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout_s} s"
        time.sleep(0.1)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


# --- OAuth ---


def test_a_pkce_code_is_exchanged_once_for_tokens_that_google_auth_refreshes(
    emulator: RunningEmulator,
) -> None:
    granted = consent(emulator)
    assert granted.scope == YOUTUBE_SCOPE

    with pytest.raises(RefreshError, match="Invalid code verifier"):
        exchange(emulator, granted.code, secrets.token_urlsafe(48))
    tokens = exchange(emulator, granted.code, granted.verifier)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == YOUTUBE_SCOPE
    assert tokens["refresh_token"].startswith("1//")
    with pytest.raises(RefreshError, match="invalid_grant"):
        exchange(emulator, granted.code, granted.verifier)  # a code is single use

    creds = credentials(emulator, tokens)
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token != tokens["access_token"]
    assert creds.refresh_token == tokens["refresh_token"]  # Google answers a refresh without a new one
    assert creds.valid
    assert creds.expiry is not None
    assert (creds.expiry - datetime.now(UTC).replace(tzinfo=None)).seconds > 3500


def test_the_emulator_lists_every_secret_it_handed_out_even_after_a_reset(
    emulator: RunningEmulator, youtube: Any
) -> None:
    granted = consent(emulator)
    tokens = exchange(emulator, granted.code, granted.verifier)
    creds = credentials(emulator, tokens)
    creds.refresh(google.auth.transport.requests.Request())
    stream_name = new_stream(youtube)["cdn"]["ingestionInfo"]["streamName"]
    control(emulator, "POST", "/reset")

    issued = control(emulator, "GET", "/issued")
    assert emulator.client.client_secret in issued["client_secrets"]
    assert granted.code in issued["authorization_codes"]
    assert {tokens["access_token"], creds.token} <= set(issued["access_tokens"])
    assert tokens["refresh_token"] in issued["refresh_tokens"]
    assert stream_name in issued["stream_keys"]


def test_the_token_endpoint_takes_the_client_in_basic_auth_as_requests_oauthlib_sends_it(
    emulator: RunningEmulator,
) -> None:
    """google-auth-oauthlib's Flow.fetch_token goes through requests-oauthlib: client id and secret in an
    HTTP Basic header, no client_id in the body."""
    granted = consent(emulator)
    common = {"grant_type": "authorization_code", "code": granted.code, "redirect_uri": REDIRECT_URI}

    wrong_secret = requests.post(
        emulator.urls.token_endpoint,
        data={**common, "code_verifier": granted.verifier},
        auth=(emulator.client.client_id, "GOCSPX-not-the-secret"),
        timeout=10,
    )
    assert (wrong_secret.status_code, wrong_secret.json()) == (
        401,
        {"error": "invalid_client", "error_description": "Unauthorized"},
    )
    no_verifier = requests.post(
        emulator.urls.token_endpoint,
        data=common,
        auth=(emulator.client.client_id, emulator.client.client_secret),
        timeout=10,
    )
    assert no_verifier.json() == {"error": "invalid_grant", "error_description": "Missing code verifier."}
    other_redirect = requests.post(
        emulator.urls.token_endpoint,
        data={**common, "code_verifier": granted.verifier, "redirect_uri": REDIRECT_URI + "/other"},
        auth=(emulator.client.client_id, emulator.client.client_secret),
        timeout=10,
    )
    assert other_redirect.json()["error"] == "redirect_uri_mismatch"
    exchanged = requests.post(
        emulator.urls.token_endpoint,
        data={**common, "code_verifier": granted.verifier},
        auth=(emulator.client.client_id, emulator.client.client_secret),
        timeout=10,
    )
    assert exchanged.status_code == 200, exchanged.text
    assert {"access_token", "refresh_token", "expires_in", "scope", "token_type"} <= set(exchanged.json())
    assert "no-store" in exchanged.headers["Cache-Control"]


def test_a_denied_consent_and_an_unregistered_redirect_uri(emulator: RunningEmulator) -> None:
    consent(emulator, allow=False)  # back to the app with error=access_denied and its state

    page = requests.get(
        emulator.urls.authorization_endpoint,
        params={
            "client_id": emulator.client.client_id,
            "redirect_uri": "https://evil.example/callback",
            "response_type": "code",
            "scope": YOUTUBE_SCOPE,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert page.status_code == 400  # Google's error page: nothing is sent to an unregistered URI
    assert "redirect_uri_mismatch" in page.text
    unknown_client = requests.get(
        emulator.urls.authorization_endpoint,
        params={"client_id": "nobody.apps.googleusercontent.com", "redirect_uri": REDIRECT_URI},
        timeout=10,
    )
    assert unknown_client.status_code == 401
    assert "invalid_client" in unknown_client.text


def test_a_refresh_token_is_only_given_for_offline_access(emulator: RunningEmulator) -> None:
    online = consent(emulator, offline=False)
    assert "refresh_token" not in exchange(emulator, online.code, online.verifier)


def test_a_read_only_grant_lists_but_does_not_change(emulator: RunningEmulator) -> None:
    granted = consent(emulator, scope=YOUTUBE_SCOPE + ".readonly")
    youtube = youtube_client(
        emulator, credentials(emulator, exchange(emulator, granted.code, granted.verifier))
    )
    assert youtube.liveBroadcasts().list(part="id", mine=True).execute()["items"] == []
    with pytest.raises(HttpError) as refused:
        new_broadcast(youtube)
    assert (refused.value.status_code, reason(refused.value)) == (403, "insufficientPermissions")


def test_an_expired_access_token_is_refused_and_the_client_library_refreshes_it(
    emulator: RunningEmulator,
) -> None:
    creds = connected(emulator)
    youtube = youtube_client(emulator, creds)
    first_token = creds.token
    assert youtube.channels().list(part="id", mine=True).execute()["items"]

    assert control(emulator, "POST", "/tokens/expire")["expired"] >= 1
    refused = requests.get(
        emulator.urls.api_endpoint + "youtube/v3/channels",
        params={"part": "id", "mine": "true"},
        headers={"Authorization": f"Bearer {first_token}"},
        timeout=10,
    )
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert (error["code"], error["status"], error["errors"][0]["reason"]) == (
        401,
        "UNAUTHENTICATED",
        "authError",
    )
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")

    # google-auth-httplib2 answers a 401 with a refresh at the token endpoint, then the same request again
    channel = youtube.channels().list(part="snippet", mine=True).execute()["items"][0]
    assert channel["id"] == emulator.channel.channel_id
    assert creds.token != first_token


def test_a_revoked_grant_answers_invalid_grant(emulator: RunningEmulator) -> None:
    creds = connected(emulator)
    youtube = youtube_client(emulator, creds)
    revoked = requests.post(emulator.urls.revoke_endpoint, data={"token": creds.refresh_token}, timeout=10)
    assert (revoked.status_code, revoked.json()) == (200, {})

    with pytest.raises(RefreshError) as refused:
        creds.refresh(google.auth.transport.requests.Request())
    assert refused.value.args[1] == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    with pytest.raises(RefreshError, match="invalid_grant"):  # the 401, then a refresh that fails
        youtube.channels().list(part="id", mine=True).execute()
    again = requests.post(emulator.urls.revoke_endpoint, data={"token": creds.refresh_token}, timeout=10)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_token")

    # the user removing the app's access in their Google account: the test control does that
    other = connected(emulator)
    assert (
        control(emulator, "POST", "/grants/revoke", {"channel_id": emulator.channel.channel_id})["revoked"]
        == 1
    )
    with pytest.raises(RefreshError, match="invalid_grant"):
        other.refresh(google.auth.transport.requests.Request())


# --- the API, held to the discovery document ---


def test_requests_are_held_to_the_discovery_document(emulator: RunningEmulator, youtube: Any) -> None:
    with pytest.raises(HttpError) as bad_part:  # googleapiclient does not check part names itself
        youtube.liveBroadcasts().list(part="snippet,colour", mine=True).execute()
    assert (bad_part.value.status_code, reason(bad_part.value)) == (400, "unknownPart")
    assert google_error(bad_part.value)["errors"][0]["domain"] == "youtube.part"

    with pytest.raises(HttpError) as bad_body:  # nor the body's names
        youtube.liveBroadcasts().insert(
            part="snippet",
            body={"snippet": {"title": "x", "scheduledStartTime": "2030-01-01T00:00:00Z", "colour": 1}},
        ).execute()
    assert bad_body.value.status_code == 400
    assert google_error(bad_body.value)["status"] == "INVALID_ARGUMENT"
    assert "Unknown name \"colour\" at 'live_broadcast.snippet'" in google_error(bad_body.value)["message"]

    session = google.auth.transport.requests.AuthorizedSession(connected(emulator))
    api = emulator.urls.api_endpoint + "youtube/v3/"
    refusals = {
        "an unknown parameter": session.get(
            api + "liveStreams", params={"part": "id", "mine": "true", "colour": "red"}
        ),
        "a value outside its enum": session.post(
            api + "liveBroadcasts/transition", params={"part": "id", "id": "x", "broadcastStatus": "onAir"}
        ),
        "a boolean that is not one": session.get(api + "channels", params={"part": "id", "mine": "yes"}),
        "an integer beyond its maximum": session.get(
            api + "liveBroadcasts", params={"part": "id", "mine": "true", "maxResults": "51"}
        ),
        "a required parameter missing": session.post(api + "liveBroadcasts/bind", params={"part": "id"}),
        "a date-time that is not one": session.post(
            api + "liveBroadcasts",
            params={"part": "snippet"},
            json={"snippet": {"title": "x", "scheduledStartTime": "tomorrow"}},
        ),
        "a string where an object goes": session.post(
            api + "liveStreams", params={"part": "cdn"}, json={"cdn": "rtmp"}
        ),
    }
    for what, response in refusals.items():
        assert response.status_code == 400, f"{what}: {response.status_code} {response.text}"
        body = response.json()["error"]
        assert (body["code"], bool(body["errors"][0]["reason"])) == (400, True), f"{what}: {body}"
    assert refusals["a required parameter missing"].json()["error"]["errors"][0] == {
        "message": "Required parameter: id",
        "domain": "global",
        "reason": "required",
        "location": "id",
        "locationType": "parameter",
    }
    assert session.get(api + "liveBroadcasts/bind", params={"part": "id", "id": "x"}).status_code == 404
    anonymous = requests.get(api + "channels", params={"part": "id", "mine": "true"}, timeout=10)
    assert (anonymous.status_code, anonymous.json()["error"]["errors"][0]["message"]) == (
        401,
        "Login Required.",
    )


def test_a_broadcast_goes_live_on_an_active_stream_and_completes_when_the_data_stops(
    emulator: RunningEmulator, youtube: Any
) -> None:
    channel = youtube.channels().list(part="snippet,contentDetails", mine=True).execute()["items"][0]
    assert channel["snippet"]["title"] == "Emulated Channel"
    stream = new_stream(youtube)
    ingestion = stream["cdn"]["ingestionInfo"]
    assert ingestion["rtmpsIngestionAddress"].startswith("rtmps://127.0.0.1:")
    assert ingestion["ingestionAddress"].startswith("rtmp://127.0.0.1:")
    assert stream["status"] == {
        "streamStatus": "ready",
        "healthStatus": {
            "status": "noData",
            "lastUpdateTimeSeconds": stream["status"]["healthStatus"]["lastUpdateTimeSeconds"],
            "configurationIssues": [],
        },
    }
    broadcast = new_broadcast(youtube, enableAutoStart=False, enableAutoStop=True)
    assert broadcast["status"]["lifeCycleStatus"] == "created"
    bound = (
        youtube.liveBroadcasts()
        .bind(part="id,status,contentDetails", id=broadcast["id"], streamId=stream["id"])
        .execute()
    )
    assert (bound["status"]["lifeCycleStatus"], bound["contentDetails"]["boundStreamId"]) == (
        "ready",
        stream["id"],
    )
    with pytest.raises(HttpError) as inactive:
        transition_broadcast(youtube, broadcast["id"], "testing")
    assert (inactive.value.status_code, reason(inactive.value)) == (403, "errorStreamInactive")

    rtmps_url = f"{ingestion['rtmpsIngestionAddress']}/{ingestion['streamName']}"
    with publishing(rtmps_url, PUBLISH_S) as encoder:
        wait_until(lambda: stream_status(youtube, stream["id"])["streamStatus"] == "active", "active")
        assert stream_status(youtube, stream["id"])["healthStatus"]["status"] == "good"
        testing = transition_broadcast(youtube, broadcast["id"], "testing")
        assert testing["status"]["lifeCycleStatus"] == "testStarting"
        wait_until(lambda: broadcast_status(youtube, broadcast["id"]) == "testing", "testing")
        live = transition_broadcast(youtube, broadcast["id"], "live")
        assert live["status"]["lifeCycleStatus"] == "liveStarting"
        wait_until(lambda: broadcast_status(youtube, broadcast["id"]) == "live", "live")
        with pytest.raises(HttpError) as backwards:
            transition_broadcast(youtube, broadcast["id"], "testing")
        assert (backwards.value.status_code, reason(backwards.value)) == (403, "invalidTransition")
        active = youtube.liveBroadcasts().list(part="id", broadcastStatus="active").execute()["items"]
        assert [item["id"] for item in active] == [broadcast["id"]]
        assert encoder.wait(timeout=PUBLISH_S + 20) == 0, encoder.stderr.read() if encoder.stderr else ""

    wait_until(lambda: stream_status(youtube, stream["id"])["streamStatus"] == "inactive", "inactive")
    assert stream_status(youtube, stream["id"])["healthStatus"]["status"] == "noData"
    wait_until(lambda: broadcast_status(youtube, broadcast["id"]) == "complete", "complete (auto-stop)")
    ended = youtube.liveBroadcasts().list(part="snippet,status", id=broadcast["id"]).execute()["items"][0]
    assert ended["status"]["recordingStatus"] == "recorded"
    assert ended["snippet"]["actualStartTime"] <= ended["snippet"]["actualEndTime"]
    with pytest.raises(HttpError) as final:
        transition_broadcast(youtube, broadcast["id"], "live")
    assert reason(final.value) == "invalidTransition"  # complete is final

    wait_until(lambda: bool(emulator.archive(broadcast["id"])), "archived")
    archive = probe(emulator.archive(broadcast["id"])[0])
    assert {s["codec_type"] for s in archive["streams"]} == {"video", "audio"}
    wait_until(
        lambda: bool(emulator.ingest_recordings(ingestion["streamName"])), "the session's recording closed"
    )
    [recording] = emulator.ingest_recordings(ingestion["streamName"])
    received = float(probe(recording)["format"]["duration"])
    assert PUBLISH_S - 1 <= received <= PUBLISH_S + 1
    # the archive holds what arrived while the broadcast was live: after the testing phase, to the end
    assert 1.0 <= float(archive["format"]["duration"]) < received


def test_auto_start_and_youtube_ending_the_broadcast_while_data_still_arrives(
    emulator: RunningEmulator, youtube: Any
) -> None:
    stream = new_stream(youtube)
    ingestion = stream["cdn"]["ingestionInfo"]
    broadcast = new_broadcast(youtube, enableAutoStart=True, enableAutoStop=False)
    youtube.liveBroadcasts().bind(part="id", id=broadcast["id"], streamId=stream["id"]).execute()

    plain_rtmp_url = f"{ingestion['ingestionAddress']}/{ingestion['streamName']}"
    with publishing(plain_rtmp_url, seconds=10) as encoder:
        wait_until(lambda: broadcast_status(youtube, broadcast["id"]) == "live", "live by auto-start")
        time.sleep(1.5)
        ended = control(emulator, "POST", f"/broadcasts/{broadcast['id']}/end")
        assert ended["lifeCycleStatus"] == "complete"
        assert broadcast_status(youtube, broadcast["id"]) == "complete"
        assert stream_status(youtube, stream["id"])["streamStatus"] == "active"  # the encoder still pushes
        completed = youtube.liveBroadcasts().list(part="id", broadcastStatus="completed").execute()["items"]
        assert [item["id"] for item in completed] == [broadcast["id"]]
        wait_until(lambda: bool(emulator.archive(broadcast["id"])), "archive closed at the end")
        assert encoder.poll() is None, "the archive closed while the encoder still published"
    assert float(probe(emulator.archive(broadcast["id"])[0])["format"]["duration"]) >= 1.0


def test_a_broadcast_live_past_the_archive_limit_keeps_no_archive(
    emulator: RunningEmulator, youtube: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YouTube keeps no archive of a broadcast live 12 hours or more; the emulator's limit, shortened here."""
    monkeypatch.setattr(emulator.app.studio, "archive_limit_s", 2.0)
    stream = new_stream(youtube)
    ingestion = stream["cdn"]["ingestionInfo"]
    kept, dropped = (new_broadcast(youtube, enableAutoStart=True) for _ in range(2))
    youtube.liveBroadcasts().bind(part="id", id=kept["id"], streamId=stream["id"]).execute()
    youtube.liveBroadcasts().bind(part="id", id=dropped["id"], streamId=stream["id"]).execute()

    with publishing(f"{ingestion['ingestionAddress']}/{ingestion['streamName']}", seconds=10):
        wait_until(lambda: broadcast_status(youtube, kept["id"]) == "live", "live by auto-start")
        wait_until(lambda: broadcast_status(youtube, dropped["id"]) == "live", "live by auto-start")
        time.sleep(1.0)
        transition_broadcast(youtube, kept["id"], "complete", part="id")
        time.sleep(1.5)
        transition_broadcast(youtube, dropped["id"], "complete", part="id")

    wait_until(lambda: bool(emulator.archive(kept["id"])), "archived")
    assert emulator.archive(dropped["id"]) == []
    assert control(emulator, "GET", f"/broadcasts/{dropped['id']}")["archiveDropped"] is True
    assert control(emulator, "GET", f"/broadcasts/{kept['id']}")["archiveDropped"] is False


def test_transitions_youtube_does_not_allow(youtube: Any) -> None:
    broadcast = new_broadcast(youtube)
    transition = youtube.liveBroadcasts().transition
    for status in ("testing", "live", "complete"):  # not bound to a stream yet
        with pytest.raises(HttpError) as created:
            transition(part="status", id=broadcast["id"], broadcastStatus=status).execute()
        assert (created.value.status_code, reason(created.value)) == (403, "invalidTransition"), status
    youtube.liveBroadcasts().bind(part="id", id=broadcast["id"], streamId=new_stream(youtube)["id"]).execute()
    for status in ("live", "complete"):  # live goes through testing while the monitor stream is on
        with pytest.raises(HttpError) as ready:
            transition(part="status", id=broadcast["id"], broadcastStatus=status).execute()
        assert reason(ready.value) == "invalidTransition", status
    with pytest.raises(HttpError) as missing:
        transition(part="status", id="nope", broadcastStatus="live").execute()
    assert (missing.value.status_code, reason(missing.value)) == (404, "liveBroadcastNotFound")
    later = "2030-01-02T00:00:00Z"
    renamed = youtube.liveBroadcasts().update(
        part="snippet",
        body={"id": broadcast["id"], "snippet": {"title": "Renamed", "scheduledStartTime": later}},
    )
    snippet = renamed.execute()["snippet"]
    assert (snippet["title"], snippet["scheduledStartTime"]) == ("Renamed", later)
    with pytest.raises(HttpError) as untitled:  # an update replaces the part: its title goes too
        youtube.liveBroadcasts().update(
            part="snippet", body={"id": broadcast["id"], "snippet": {"scheduledStartTime": later}}
        ).execute()
    assert (untitled.value.status_code, reason(untitled.value)) == (400, "titleRequired")
    youtube.liveBroadcasts().delete(id=broadcast["id"]).execute()  # 204, as an unused broadcast can go
    assert youtube.liveBroadcasts().list(part="id", mine=True).execute()["items"] == []


def test_a_stream_takes_up_to_three_open_broadcasts_and_is_deleted_once_none_is_bound(youtube: Any) -> None:
    stream_id = new_stream(youtube)["id"]
    bind = youtube.liveBroadcasts().bind
    bound = [new_broadcast(youtube)["id"] for _ in range(3)]
    for broadcast_id in bound:
        bind(part="id", id=broadcast_id, streamId=stream_id).execute()
    fourth = new_broadcast(youtube)["id"]

    with pytest.raises(HttpError) as refused:
        bind(part="id", id=fourth, streamId=stream_id).execute()

    assert (refused.value.status_code, reason(refused.value)) == (403, "liveBroadcastBindingNotAllowed")
    youtube.liveBroadcasts().delete(id=bound[0]).execute()
    rebound = bind(part="id,status", id=fourth, streamId=stream_id).execute()
    assert rebound["status"]["lifeCycleStatus"] == "ready"

    with pytest.raises(HttpError) as in_use:  # a stream goes only once no open broadcast is bound to it
        youtube.liveStreams().delete(id=stream_id).execute()
    assert (in_use.value.status_code, reason(in_use.value)) == (403, "liveStreamDeletionNotAllowed")
    for broadcast_id in [*bound[1:], fourth]:
        youtube.liveBroadcasts().delete(id=broadcast_id).execute()
    youtube.liveStreams().delete(id=stream_id).execute()
    assert youtube.liveStreams().list(part="id", id=stream_id).execute()["items"] == []


# --- quota ---


def test_the_ledger_counts_youtubes_published_costs(emulator: RunningEmulator, youtube: Any) -> None:
    youtube.channels().list(part="id", mine=True).execute()
    stream = new_stream(youtube)
    broadcast = new_broadcast(youtube)
    youtube.liveBroadcasts().bind(part="id", id=broadcast["id"], streamId=stream["id"]).execute()
    youtube.liveBroadcasts().list(part="status", id=broadcast["id"]).execute()
    youtube.thumbnails().set(
        videoId=broadcast["id"], media_body=MediaInMemoryUpload(solid_png(160, 90, (0, 90, 200)), "image/png")
    ).execute()
    with pytest.raises(HttpError):
        transition_broadcast(youtube, broadcast["id"], "complete", part="id")
    youtube.liveBroadcasts().delete(id=broadcast["id"]).execute()

    ledger = control(emulator, "GET", "/quota")
    assert ledger["units_by_method"] == {
        "youtube.channels.list": 1,
        "youtube.liveStreams.insert": 50,
        "youtube.liveBroadcasts.insert": 50,
        "youtube.liveBroadcasts.bind": 50,
        "youtube.liveBroadcasts.list": 1,
        "youtube.thumbnails.set": 50,
        "youtube.liveBroadcasts.transition": 1,  # refused: at least one unit, as YouTube charges
        "youtube.liveBroadcasts.delete": 50,
    }
    assert ledger["used"] == 253
    assert ledger["remaining"] == 10_000 - 253
    assert ledger["project"] == emulator.client.project


def test_an_exhausted_quota_answers_quota_exceeded_until_the_pacific_day_ends(
    emulator: RunningEmulator, youtube: Any
) -> None:
    ledger = control(emulator, "POST", "/quota/exhaust")
    assert (ledger["used"], ledger["remaining"]) == (10_000, 0)
    for call in (
        youtube.channels().list(part="id", mine=True),
        youtube.liveBroadcasts().list(part="id", mine=True),
        youtube.liveStreams().insert(part="snippet,cdn", body={"snippet": {"title": "x"}}),
    ):
        with pytest.raises(HttpError) as refused:
            call.execute()
        assert (refused.value.status_code, reason(refused.value)) == (403, "quotaExceeded")
        assert google_error(refused.value)["errors"][0]["domain"] == "youtube.quota"
    assert control(emulator, "GET", "/quota")["used"] == 10_000  # refusals cost nothing
    resets_at = datetime.fromisoformat(ledger["resets_at"].replace("Z", "+00:00"))
    assert resets_at.astimezone(next_reset(time.time()).tzinfo) == next_reset(time.time())


def test_the_ledger_keeps_each_pacific_day_apart() -> None:
    now = [datetime(2030, 3, 1, 7, 59, tzinfo=UTC).timestamp()]  # 23:59 the day before, in Los Angeles
    ledger = QuotaLedger(clock=lambda: now[0], daily_limit=100)
    ledger.charge("123", "youtube.liveBroadcasts.insert", 200)
    ledger.charge("123", "youtube.liveBroadcasts.list", 200)
    assert not ledger.allows("123", "youtube.liveBroadcasts.insert")  # 51 used: 50 more would pass 100
    assert ledger.allows("123", "youtube.liveBroadcasts.list")
    assert ledger.allows("456", "youtube.liveBroadcasts.insert")  # another project
    now[0] += 120  # 00:01 Pacific
    assert ledger.used("123") == 0
    assert ledger.report("123")["resets_at"] == "2030-03-02T08:00:00Z"


def test_injected_errors_and_a_channel_without_live_streaming(
    emulator: RunningEmulator, youtube: Any
) -> None:
    control(
        emulator,
        "POST",
        "/faults",
        {"reason": "rateLimitExceeded", "method": "youtube.liveBroadcasts.insert"},
    )
    youtube.liveBroadcasts().list(part="id", mine=True).execute()  # another method: unaffected
    with pytest.raises(HttpError) as limited:
        new_broadcast(youtube)
    assert (limited.value.status_code, reason(limited.value)) == (403, "rateLimitExceeded")
    new_broadcast(youtube)  # once only

    control(emulator, "POST", "/faults", {"reason": "backendError"})
    with pytest.raises(HttpError) as unavailable:
        youtube.liveStreams().list(part="id", mine=True).execute()
    assert (unavailable.value.status_code, reason(unavailable.value)) == (503, "backendError")

    control(emulator, "POST", f"/channels/{emulator.channel.channel_id}", {"live_streaming_enabled": False})
    try:
        with pytest.raises(HttpError) as disabled:
            youtube.liveBroadcasts().list(part="id", mine=True).execute()
        assert (disabled.value.status_code, reason(disabled.value)) == (403, "liveStreamingNotEnabled")
    finally:
        control(
            emulator, "POST", f"/channels/{emulator.channel.channel_id}", {"live_streaming_enabled": True}
        )


def test_the_emulator_leaves_nothing_running_when_its_process_dies() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.youtube_emulator", REDIRECT_URI],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    root: Path | None = None
    try:
        assert process.stdout is not None
        printed = ""
        while not printed.rstrip().endswith("}") or printed.count("{") != printed.count("}"):
            line = process.stdout.readline()
            assert line, "the emulator exited before printing its URLs"
            printed += line
        urls = json.loads(printed)["urls"]
        root = Path(urls["ca_certificate"]).parent.parent
        nginx = int((root / "rtmp" / "nginx.pid").read_text())
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        wait_until(lambda: not running(nginx), "nginx gone with its parent", timeout_s=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def test_local_mode_runs_the_emulator_for_its_own_callback_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from local.runtime import YOUTUBE_EMULATOR_VAR, LocalMode, youtube_emulator_wanted
    from local.youtube_emulator.local_mode import CALLBACK_PATH
    from playout.resources import PUBLIC_ROUTES

    assert CALLBACK_PATH in PUBLIC_ROUTES
    assert youtube_emulator_wanted({})  # on by default
    assert not youtube_emulator_wanted({"YOUTUBE_CLIENT_ID": "1234.apps.googleusercontent.com"})  # Google
    assert youtube_emulator_wanted({"YOUTUBE_CLIENT_ID": "x", YOUTUBE_EMULATOR_VAR: "on"})
    with pytest.raises(ValueError, match="must be on or off"):
        youtube_emulator_wanted({YOUTUBE_EMULATOR_VAR: "maybe"})
    mode = LocalMode(build_web=False)
    mode.url = "http://127.0.0.1:8080"
    monkeypatch.delenv("YOUTUBE_CLIENT_ID", raising=False)
    monkeypatch.setenv(YOUTUBE_EMULATOR_VAR, "off")
    assert mode._start_youtube_emulator() == {}
    monkeypatch.delenv(YOUTUBE_EMULATOR_VAR)
    settings = mode._start_youtube_emulator()
    try:
        assert mode.youtube is not None
        assert mode.youtube.client.redirect_uris == ("http://127.0.0.1:8080/api/youtube/callback",)
        assert settings["YOUTUBE_TOKEN_URI"] == mode.youtube.urls.token_endpoint
        assert settings["YOUTUBE_CLIENT_ID"] == mode.youtube.client.client_id
        trusted = settings["YOUTUBE_CA_BUNDLE"]
        page = requests.get(settings["YOUTUBE_API_ENDPOINT"] + "emulator", timeout=10, verify=trusted)
        assert page.json()["clients"][0]["client_id"] == settings["YOUTUBE_CLIENT_ID"]
    finally:
        mode.stop()
    assert mode.youtube is None


def test_a_page_rebound_to_the_emulator_reads_nothing(emulator: RunningEmulator) -> None:
    """DNS rebinding: a request naming another host than the emulator's (its https, its plain http and
    nginx-rtmp's control alike) is refused with 421; the consent page and the controls answer as before."""
    ingest = emulator.app.ingest
    assert isinstance(ingest, RtmpIngest)
    consent_page = (
        f"{emulator.urls.authorization_endpoint}?client_id={emulator.client.client_id}&response_type=code"
        f"&redirect_uri={REDIRECT_URI}&scope={YOUTUBE_SCOPE}"
    )
    for url in (consent_page, f"{emulator.urls.plain_base}/emulator", f"{ingest.control_url}/drop/publisher"):
        port = url.split("://", 1)[1].split("/", 1)[0].rpartition(":")[2]
        served = requests.get(url, timeout=10)
        assert served.status_code != 421, url
        refused = requests.get(url, headers={"Host": "attacker.example"}, timeout=10)
        assert refused.status_code == 421, url
        assert refused.json() == {
            "error": {
                "code": "misdirected_request",
                "message": f"This server answers only requests addressed to 127.0.0.1:{port} or "
                f"localhost:{port}; this one names another host.",
            }
        }
        on_another_port = requests.get(url, headers={"Host": f"localhost:{int(port) + 1}"}, timeout=10)
        assert on_another_port.status_code == 421, url
    assert requests.get(consent_page, timeout=10).status_code == 200
    assert requests.get(f"{emulator.urls.plain_base}/emulator", timeout=10).json()["urls"]
