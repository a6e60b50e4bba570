"""What the YouTube tests build on: the emulator in this process (Google's OAuth and the YouTube API), the API
told where it answers as local mode tells it, a person on the consent page (no browser: requests follows the
page's form), the callback as the browser brings it back, and an encoder feeding a channel's ingest."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from api.handler import CONNECT_COOKIE
from local.youtube_emulator import RunningEmulator
from local.youtube_emulator.consent_page import CONSENT_ACTION
from local.youtube_emulator.local_mode import api_settings
from playout.settings import YouTubeSettings, get_settings, get_youtube_settings
from playout.youtube.broadcasts import Broadcasts
from playout.youtube.google import GoogleProject, project_for
from tests.integration.conftest import ApiClient
from tests.integration.helpers import upload

APP_ORIGIN = "https://app.test"


def point_the_api_at(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    """The environment local mode gives the API (local/youtube_emulator/local_mode.py); fresh settings."""
    for name, value in {**api_settings(emulator), **extra}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("APP_ORIGIN", APP_ORIGIN)
    monkeypatch.setenv("ALLOW_LOOPBACK_INGESTS", "true")  # the emulator's ingest is on this machine
    forget_settings()


def forget_settings() -> None:
    get_settings.cache_clear()
    get_youtube_settings.cache_clear()
    project_for.cache_clear()


def project() -> GoogleProject:
    """The project the API uses (the same object: its ledger, its cached credentials)."""
    return project_for(get_youtube_settings(), get_settings().app_origin)


def broadcasts() -> Broadcasts:
    """What the stream task does with the run's broadcasts (its own project, from the same settings)."""
    return Broadcasts(GoogleProject(YouTubeSettings()), allow_loopback_ingests=True)


def control(emulator: RunningEmulator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.request(
        method, emulator.urls.controls + path, json=body, timeout=10, verify=str(emulator.urls.ca_certificate)
    )
    assert response.status_code == 200, response.text
    return response.json()


@dataclass(frozen=True)
class Connect:
    authorization_url: str
    nonce: str  # the cookie the connect answer set in the browser


def start_connect(client: ApiClient) -> Connect:
    response = client.post("/api/youtube/connect")
    assert response.status == 200, response.text
    [cookie] = [c for c in response.cookies if c.startswith(CONNECT_COOKIE + "=")]
    attributes = [part.strip() for part in cookie.split(";")]
    assert "HttpOnly" in attributes
    assert "SameSite=Lax" in attributes
    assert "Path=/api/youtube/callback" in attributes
    return Connect(response.json()["authorization_url"], attributes[0].partition("=")[2])


def consent(
    emulator: RunningEmulator, authorization_url: str, *, allow: bool = True, account: str = ""
) -> str:
    """A person on Google's consent page: picks the account (the first by default), clicks Allow or Deny.
    Returns where Google sends the browser back (the callback URL with its query)."""
    trusted = str(emulator.urls.ca_certificate)
    page = requests.get(authorization_url, timeout=10, verify=trusted)
    assert page.status_code == 200, page.text
    assert ">Allow</button>" in page.text
    consent_id = re.findall(r'name="consent" value="([^"]+)"', page.text)[0]
    accounts = re.findall(r'name="account" value="([^"]+)"', page.text)
    chosen = account or accounts[0]
    assert chosen in accounts, accounts
    answer = requests.post(
        emulator.urls.base + CONSENT_ACTION,
        data={"consent": consent_id, "account": chosen, "decision": "allow" if allow else "deny"},
        allow_redirects=False,
        timeout=10,
        verify=trusted,
    )
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


@dataclass(frozen=True)
class Outcome:
    status: int
    location: str
    fragment: dict[str, str]


def callback(callback_url: str, nonce: str | None) -> Outcome:
    """The browser back at the callback (no JWT: a public route), bringing the connect cookie if it has it."""
    parts = urlsplit(callback_url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    response = ApiClient(None).request(
        "GET", parts.path, query=query, cookies={CONNECT_COOKIE: nonce} if nonce else None
    )
    location = response.headers.get("Location", "")
    fragment = {name: values[0] for name, values in parse_qs(urlsplit(location).fragment).items()}
    return Outcome(response.status, location, fragment)


def connect_channel(
    client: ApiClient, emulator: RunningEmulator, account: str = ""
) -> tuple[Outcome, dict[str, Any]]:
    """The whole round trip; the destination it made."""
    started = start_connect(client)
    came_back = callback(consent(emulator, started.authorization_url, account=account), started.nonce)
    assert came_back.fragment.get("youtube") == "connected", came_back
    destination = client.get(f"/api/destinations/{came_back.fragment['destination_id']}")
    assert destination.status == 200, destination.text
    return came_back, dict(destination.json())


@contextmanager
def publishing(ingest_url: str, seconds: int) -> Iterator[subprocess.Popen[bytes]]:
    """An encoder pushing test picture and tone to `ingest_url` (the key included) at its real pace."""
    encoder = subprocess.Popen(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k",
            "-f", "flv", ingest_url,
        ],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield encoder
    finally:
        if encoder.poll() is None:
            encoder.kill()
        encoder.wait()


def new_stream(client: ApiClient, destination_ids: list[str], **extra: Any) -> dict[str, Any]:
    media = upload(client)
    created = client.post(
        "/api/streams",
        {
            "title": "Loop <one>",
            "description": "A quiet loop",
            "privacy": "unlisted",
            "media_ids": [media["media_id"]],
            "destination_ids": destination_ids,
            **extra,
        },
    )
    assert created.status == 201, created.text
    return dict(created.json())


def studio_broadcasts(emulator: RunningEmulator) -> list[Any]:
    studio = emulator.app.studio
    return [b for channel in studio.channels.values() for b in studio.broadcasts(channel)]


def units_by_method(emulator: RunningEmulator) -> dict[str, int]:
    """YouTube's own count (the emulator's ledger) of the units each method cost today."""
    return dict(emulator.app.ledger.report(emulator.client.project)["units_by_method"])
