"""YouTube end to end in local mode: a person connects the emulated channel in Chromium (the emulator's
consent page, its Allow button), a stream starts on the YouTube destination, the stream task's real ffmpeg
pushes to the emulator's real RTMPS ingest, the broadcast goes live by itself (auto-start) with data flowing,
a stop completes it, and its archive is a recording ffprobe reads."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import (
    ApiClient,
    Emulator,
    LocalModeProcess,
    ResponseLog,
    User,
    record_figure,
    wait_for_status,
    wait_until,
)
from tests.media_probe import probe

pytestmark = pytest.mark.xdist_group("youtube")
LIVE_FOR_S = 6.0  # on air before the stop: long enough for the archive to hold pictures and sound
ARCHIVE_START_SLACK_S = 2.5  # a GOP (2 s) and the recorder's start


def connect_in_the_browser(browser: Any, local_mode: LocalModeProcess, user: User) -> dict[str, str]:
    """What the app does (asks the API for Google's URL, from the page: the answer's cookie binds this
    browser), then what a person does on the consent page: click Allow. Returns the outcome the app is sent
    back with (the URL's fragment)."""
    from playwright.sync_api import expect

    # The emulator's https has its own authority, which this browser does not know (a person would trust it).
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    try:
        page.goto(local_mode.url + "/")
        answer = page.evaluate(
            """async (token) => {
                const response = await fetch("/api/youtube/connect", {
                    method: "POST", headers: {Authorization: "Bearer " + token}});
                return {status: response.status, body: await response.json()};
            }""",
            user.id_token,
        )
        assert answer["status"] == 200, answer
        page.goto(answer["body"]["authorization_url"])
        expect(page.get_by_role("heading")).to_contain_text("wants to access your Google Account")
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(lambda url: "youtube=" in url, timeout=30_000)
        assert page.url.startswith(local_mode.url + "/#"), page.url
        expect(page.locator("#auth")).to_be_visible()  # the app itself, back in charge
        return {name: values[0] for name, values in parse_qs(urlsplit(page.url).fragment).items()}
    finally:
        context.close()


def test_connect_in_the_browser_then_a_stream_goes_live_on_youtube_and_completes_with_an_archive(
    browser: Any,
    local_mode: LocalModeProcess,
    emulator: Emulator,
    alice: User,
    alice_api: ApiClient,
    alice_media: dict[str, Any],
    response_log: ResponseLog,
    figures: dict[str, float],
) -> None:
    outcome = connect_in_the_browser(browser, local_mode, alice)
    assert outcome["youtube"] == "connected", outcome
    destination = alice_api.ok("GET", f"/api/destinations/{outcome['destination_id']}")
    assert (destination["type"], destination["state"]) == ("youtube", "ready")

    stream = alice_api.ok(
        "POST",
        "/api/streams",
        {
            "title": "e2e on YouTube",
            "description": "Playout, end to end",
            "privacy": "unlisted",
            "media_ids": [alice_media["media_id"]],
            "destination_ids": [destination["destination_id"]],
            "loop": True,
        },
        201,
    )
    asked = time.monotonic()
    started = alice_api.ok("POST", f"/api/streams/{stream['stream_id']}/start", status=202)
    watch_url = started["watch_url"]
    assert watch_url.startswith("https://www.youtube.com/watch?v=")
    broadcast_id = watch_url.rsplit("=", 1)[1]

    # The task's ffmpeg reaches the bound liveStream's ingest: data flows, and auto-start takes it live.
    wait_until(lambda: emulator.get(f"/broadcasts/{broadcast_id}")["lifeCycleStatus"] == "live", "live", 60)
    record_figure(figures, "youtube_start_to_live_s", time.monotonic() - asked)
    broadcast = emulator.get(f"/broadcasts/{broadcast_id}")
    ingest = emulator.get(f"/streams/{broadcast['boundStreamId']}")
    assert ingest["streamStatus"] == "active"
    assert ingest["publishers"] == 1
    wait_for_status(alice_api, stream["stream_id"], {"live"}, 30)
    wait_until(lambda: bool(emulator.get(f"/broadcasts/{broadcast_id}")["hasThumbnail"]), "thumbnail", 30)
    time.sleep(LIVE_FOR_S)

    alice_api.ok("POST", f"/api/streams/{stream['stream_id']}/stop", status=202)
    ended, _ = wait_for_status(alice_api, stream["stream_id"], {"ended", "failed"}, 60)
    assert ended["status"] == "ended", ended
    assert ended["watch_url"] == watch_url
    assert emulator.get(f"/broadcasts/{broadcast_id}")["lifeCycleStatus"] == "complete"

    wait_until(
        lambda: all(part["closed"] for part in emulator.get(f"/broadcasts/{broadcast_id}")["archive"]),
        "the archive closed",
        30,
    )
    completed = emulator.get(f"/broadcasts/{broadcast_id}")
    archive = completed["archive"]
    assert archive, "the broadcast kept no archive"
    live_s = completed["actualEndTime"] - completed["actualStartTime"]
    assert live_s >= LIVE_FOR_S
    probed = probe(Path(archive[0]["path"]))
    assert {s["codec_type"] for s in probed["streams"]} == {"video", "audio"}
    archived_s = float(probed["format"]["duration"])
    record_figure(figures, "youtube_archive_s", archived_s)
    # The archive starts at the first keyframe after the broadcast went live (the clip has one every 2 s).
    assert live_s - ARCHIVE_START_SLACK_S <= archived_s <= live_s + 0.5

    # The channel's stream key went from YouTube to the task and nowhere else.
    key = ingest["streamName"]
    assert response_log.containing(key) == []
    assert key not in local_mode.log_file.read_text()
    me = alice_api.ok("GET", "/api/me")
    assert me["youtube_quota"]["used"] >= 201
