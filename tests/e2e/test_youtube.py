"""YouTube end to end in local mode: a person connects the emulated channel in Chromium (the emulator's
consent page, its Allow button), a stream starts on the YouTube destination, the stream task's real ffmpeg
pushes to the emulator's real RTMPS ingest, the broadcast goes live by itself (auto-start) with data flowing,
a stop completes it, and its archive is a recording ffprobe reads."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    PASSWORD,
    ApiClient,
    Emulator,
    LocalModeProcess,
    ResponseLog,
    User,
    record_figure,
    sign_up_and_in,
    wait_for_status,
    wait_until,
)
from tests.media_probe import probe

pytestmark = pytest.mark.xdist_group("youtube")
LIVE_FOR_S = 6.0  # on air before the stop: long enough for the archive to hold pictures and sound
ARCHIVE_START_SLACK_S = 2.5  # a GOP (2 s) and the recorder's start


def connect_in_the_browser(
    browser: Any, local_mode: LocalModeProcess, user: User, decision: str = "Allow"
) -> dict[str, str]:
    """What the app does (asks the API for Google's URL, from the page: the answer's cookie binds this
    browser), then what a person does on the consent page: click Allow (or Deny). Returns the outcome the app
    was sent back with (the URL's fragment) as the app shows it, with its words."""
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
        page.get_by_role("button", name=decision).click()
        # The app, back in charge, says how it went and takes the outcome out of the address bar, where
        # the Destinations screen is named instead.
        message = page.locator("#message")
        expect(message).to_have_attribute("data-youtube", re.compile(".+"), timeout=30_000)
        assert page.evaluate("location.href") == local_mode.url + "/#/destinations"
        return {
            "youtube": message.get_attribute("data-youtube") or "",
            "destination_id": message.get_attribute("data-destination-id") or "",
            "said": message.inner_text(),
        }
    finally:
        context.close()


def test_a_signed_in_person_connects_a_channel_from_the_app_and_sees_it_listed(
    browser: Any, local_mode: LocalModeProcess, runtime_config: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    frank = sign_up_and_in(local_mode, runtime_config, f"frank-{secrets.token_hex(4)}@example.com")
    context = browser.new_context(ignore_https_errors=True)  # the emulator's own authority
    page = context.new_page()
    try:
        page.goto(local_mode.url + "/")
        page.locator("#signin-email").fill(frank.email)
        page.locator("#signin-password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        nav = page.get_by_role("navigation", name="Main")
        nav.get_by_role("link", name="Account").click()
        expect(page.locator("#youtube-quota-left")).to_have_text(re.compile(r"^[0-9]+$"))
        nav.get_by_role("link", name="Destinations").click()
        expect(page.locator("#youtube-empty")).to_be_visible()

        page.get_by_role("button", name="Connect a YouTube channel").click()
        page.wait_for_url(lambda url: not url.startswith(local_mode.url), timeout=30_000)  # Google's page
        expect(page.get_by_role("heading")).to_contain_text("wants to access your Google Account")
        page.get_by_role("button", name="Allow").click()

        expect(page.locator("#message")).to_have_text(
            "YouTube channel “Emulated Channel” is connected: streams can go to it now.", timeout=30_000
        )
        channel = page.locator("#youtube-channels li")
        expect(channel.locator(".name")).to_have_text(["Emulated Channel"])
        expect(channel.locator(".state")).to_have_text(["ready"])
        expect(page.locator("#youtube-empty")).to_be_hidden()
        assert page.evaluate("location.hash") == "#/destinations"
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
    refused = connect_in_the_browser(browser, local_mode, alice, decision="Deny")
    assert refused["youtube"] == "denied", refused
    assert refused["said"] == "You did not allow Playout to use the channel, so nothing was connected."
    assert [d for d in alice_api.ok("GET", "/api/destinations")["items"] if d["type"] == "youtube"] == []

    outcome = connect_in_the_browser(browser, local_mode, alice)
    assert outcome["youtube"] == "connected", outcome
    assert outcome["said"].endswith("is connected: streams can go to it now."), outcome
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
