"""The whole journey of a new creator, in Chromium against local mode and nothing else: sign up through the
page (local mode confirms at once), sign in, upload two short videos from the Library (each progress bar to
100 %, both Ready), make a playlist of both, add an RTMP destination at the test nginx-rtmp, make a stream of
the playlist, watch it live with the bitrate and frame-rate sparklines gaining points, stop it (asked first),
see it Ended; then the ingest's recording holds H.264 and AAC as long as the stream was on air. At desktop
width the stream is scheduled about a minute ahead in the browser's time zone; at phone width (touch) it
starts at once. Every screen is checked for a sideways scroll, and every action is a click or tap within the
screen. The test makes nothing through the API: it only reads it, to check. Every screen goes to
build/screenshots/<screen>-<width>.png; the confirm screen from an account not yet confirmed (as AWS holds one
until its emailed code is entered)."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from tests.e2e.app_pages import (
    MEDIA_JOB_TIMEOUT_MS,
    START_TO_LIVE_TIMEOUT_MS,
    STOP_TO_ENDED_TIMEOUT_MS,
    ZONE,
    Hands,
    fits,
    make_stream,
    new_context,
    screenshot,
    small_clip,
    sparklines_gain_points,
    watch_for_problems,
)
from tests.e2e.conftest import (
    PASSWORD,
    ApiClient,
    LocalModeProcess,
    RtmpSink,
    User,
    new_stream_key,
)
from tests.e2e.recording import wait_until_written
from tests.media_probe import probe

pytestmark = pytest.mark.xdist_group("app-journey")  # two live streams' worth of waiting: beside the rest

CLIPS = {"dawn.mp4": (3, 330), "dusk.mp4": (4, 550)}  # seconds, tone: short and small, so quick to conform
# The recording against the on-air time the API's timeline gives (its live and ended events, whole seconds
# of ffmpeg's start-up and the ingest closing the file either side).
RECORDING_SLACK_S = 4.0


def _clips(folder: Path) -> list[Path]:
    return [small_clip(folder / name, seconds, tone) for name, (seconds, tone) in CLIPS.items()]


def _moments(events: list[dict[str, Any]], kind: str) -> list[datetime]:
    return [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in events if e["type"] == kind]


def _signed_in_reader(page: Any, make_client: Callable[[User | None], ApiClient]) -> ApiClient:
    """The API as the page's own session reads it (the test checks with it; it makes nothing)."""
    token = page.evaluate("Object.entries(sessionStorage).find(([k]) => k.endsWith('.idToken'))[1]")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==").decode())
    return make_client(User(email=claims["email"], id_token=token, user_id=claims["sub"]))


@pytest.mark.parametrize(
    ("viewport", "scheduled"), [("desktop", True), ("phone", False)], ids=["desktop-scheduled", "phone-now"]
)
def test_a_new_creator_goes_from_sign_up_to_a_recorded_stream_in_the_browser_alone(
    browser: Any,
    local_mode: LocalModeProcess,
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    make_client: Callable[[User | None], ApiClient],
    tmp_path: Path,
    viewport: str,
    scheduled: bool,
) -> None:
    from playwright.sync_api import expect

    email = f"journey-{viewport}-{secrets.token_hex(4)}@example.com"
    key = new_stream_key(stream_keys)
    clips = _clips(tmp_path)
    context = new_context(browser, viewport)
    page = context.new_page()
    problems = watch_for_problems(page)
    hands = Hands(page, touch=viewport == "phone")
    try:
        # --- first visit: sign in beside sign up; forgot password one tap away ---
        page.goto(local_mode.url + "/")
        expect(page.get_by_role("heading", name="Sign in", level=2)).to_be_visible()
        fits(page)
        screenshot(page, "sign-in", viewport)
        hands.press(page.get_by_role("button", name="Forgot your password?"))
        expect(page.get_by_role("heading", name="Reset your password", level=2)).to_be_visible()
        fits(page)
        screenshot(page, "forgot-password", viewport)
        hands.press(page.get_by_role("button", name="Back to sign in"))

        # --- sign up (local mode confirms at once: no mail on one machine), then sign in ---
        page.locator("#signup-email").fill(email)
        page.locator("#signup-password").fill(PASSWORD)
        page.locator("#signup-email").scroll_into_view_if_needed()
        screenshot(page, "sign-up", viewport)
        hands.press(page.get_by_role("button", name="Create account"))
        expect(page.locator("#message")).to_have_text("Account created. You can sign in now.")
        expect(page.locator("#signin-email")).to_have_value(email)
        expect(page.locator("#signin-password")).to_be_focused()
        page.locator("#signin-password").fill(PASSWORD)
        hands.press(page.get_by_role("button", name="Sign in"))
        expect(page.get_by_role("heading", name="Library", level=1)).to_be_focused()
        reader = _signed_in_reader(page, make_client)

        # --- the Library: two files chosen, a progress bar each to 100 %, both Ready ---
        expect(page.locator("#media-empty")).to_contain_text("No videos yet")
        fits(page)
        with page.expect_file_chooser() as chosen:
            hands.press(page.get_by_role("button", name="Choose files…"))
        chosen.value.set_files([str(clip) for clip in clips])
        for clip in clips:
            bar = page.get_by_role("progressbar", name=clip.name)
            expect(bar).to_have_js_property("value", 100, timeout=60_000)
            expect(page.locator("#uploads > li").filter(has=bar)).to_contain_text("Sent · 100 %")
        for clip in clips:
            item = page.locator("#media-list > li").filter(has=page.get_by_role("heading", name=clip.name))
            expect(item).to_have_attribute("data-status", "ready", timeout=MEDIA_JOB_TIMEOUT_MS)
            expect(item.locator(".media-status")).to_have_text("Ready")
        fits(page)
        screenshot(page, "library", viewport)
        media = {m["filename"]: m for m in reader.ok("GET", "/api/media")["items"]}
        assert {name: m["status"] for name, m in media.items()} == dict.fromkeys(CLIPS, "ready"), media
        one_pass_s = sum(float(m["duration_s"]) for m in media.values())

        # --- a playlist of both ---
        hands.open_screen("Playlists", "Playlists")
        fits(page)
        page.get_by_label("Name", exact=True).fill("Dawn to dusk")
        hands.press(page.get_by_role("button", name="Create playlist"))
        expect(page.get_by_role("heading", name="Dawn to dusk", level=1)).to_be_focused()
        playlist_id = str(page.evaluate("location.hash")).removeprefix("#/playlists/")
        for name in CLIPS:
            hands.press(page.get_by_role("button", name=f"Add {name}"))
        expect(page.locator("#playlist-count")).to_have_text("2 videos")
        expect(page.locator("#playlist-save")).to_have_text("All changes saved")
        fits(page)
        screenshot(page, "playlist-editor", viewport)
        hands.press(page.get_by_role("link", name="All playlists"))
        row = page.locator(f"#playlist-list li[data-playlist-id='{playlist_id}']")
        expect(row.locator(".pl-meta")).to_contain_text("2 videos")
        fits(page)
        screenshot(page, "playlists", viewport)
        assert reader.ok("GET", f"/api/playlists/{playlist_id}")["media_ids"] == [
            media[name]["media_id"] for name in CLIPS
        ]

        # --- a custom RTMP destination at the test ingest ---
        hands.open_screen("Destinations", "Destinations")
        page.get_by_label("Name").fill("Test ingest")
        page.get_by_label("Ingest address").fill(rtmp_sink.url)
        page.get_by_label("Stream key").fill(key)
        hands.press(page.get_by_role("button", name="Save destination"))
        expect(page.locator("#message")).to_contain_text("Destination “Test ingest” is saved.")
        expect(page.locator("#rtmp-destinations li")).to_have_count(1)
        assert key not in page.content()
        fits(page)
        screenshot(page, "destinations", viewport)
        (destination,) = reader.ok("GET", "/api/destinations")["items"]

        # --- a stream of the playlist: at a time about a minute ahead, or now ---
        hands.open_screen("Streams", "Streams")
        fits(page)
        title = f"Dawn to dusk, {viewport}"
        # The form takes whole minutes; inside the 90 s pre-warm the task starts at once and holds its first
        # frame until the time.
        at = (datetime.now(UTC) + timedelta(seconds=25 + 59)).replace(second=0, microsecond=0)
        stream_id = make_stream(
            page,
            title,
            playlist_id=playlist_id,
            destination_ids=[destination["destination_id"]],
            loop=True,
            at=at if scheduled else None,
            hands=hands,
        )
        fits(page)
        if scheduled:
            assert datetime.now(UTC) < at, "the test was too slow to see the wait"
            expect(page.locator("#stream-status")).to_have_text(re.compile("^(Scheduled|Starting)$"))
            clock = at.astimezone(ZoneInfo(ZONE)).strftime("%-I:%M %p")
            shown = page.locator("#stream-schedule").inner_text().replace("\u202f", " ")
            assert clock in shown, shown
            assert f"({ZONE} time)" in shown, shown
            stored = reader.ok("GET", f"/api/streams/{stream_id}")
            assert datetime.fromisoformat(stored["scheduled_start"].replace("Z", "+00:00")) == at, stored
            hands.press(page.get_by_role("link", name="All streams"))
            listed = page.locator(f"#stream-list li[data-stream-id='{stream_id}'] .st-meta")
            assert clock in listed.inner_text().replace("\u202f", " ")
            hands.press(page.get_by_role("link", name=title, exact=True))
            expect(page.locator("#stream-status")).to_have_text("Live", timeout=120_000)
            assert datetime.now(UTC) >= at - timedelta(seconds=3), "live before its time"
        else:
            expect(page.locator("#stream-status")).to_have_text("Draft")
            hands.press(page.get_by_role("button", name="Start", exact=True))
            expect(page.locator("#stream-status")).to_have_text("Live", timeout=START_TO_LIVE_TIMEOUT_MS)

        sparklines_gain_points(page)
        expect(
            page.locator(f"#stream-dests li[data-destination-id='{destination['destination_id']}']")
        ).to_have_attribute("data-status", "live")
        fits(page)
        screenshot(page, "stream-live", viewport)

        # --- the account while on air, the list, then back to stop it (asked first) ---
        hands.open_screen("Account", "Your account")
        expect(page.locator("#active-streams")).to_have_text("1")
        expect(page.locator("#account-email")).to_have_text(email)
        fits(page)
        screenshot(page, "account", viewport)
        hands.open_screen("Streams", "Streams")
        row = page.locator(f"#stream-list li[data-stream-id='{stream_id}']")
        expect(row.locator(".st-status")).to_have_text("Live")
        fits(page)
        screenshot(page, "streams", viewport)
        hands.press(row.get_by_role("link", name=title, exact=True))
        expect(page.locator("#stream-status")).to_have_text("Live")
        hands.press(page.get_by_role("button", name=f"Stop {title}"))
        hands.press(page.get_by_role("button", name="Yes, stop"))
        expect(page.locator("#stream-status")).to_have_text("Ended", timeout=STOP_TO_ENDED_TIMEOUT_MS)
        expect(page.locator("#stream-event-list li").first).to_have_attribute("data-type", "ended")
        fits(page)
        assert problems == [], problems
    finally:
        context.close()

    # --- what the ingest recorded: H.264 and AAC, as long as the stream was on air ---
    events = reader.ok("GET", f"/api/streams/{stream_id}/events")["items"]
    on_air_s = (_moments(events, "ended")[0] - _moments(events, "live")[0]).total_seconds()
    recording = rtmp_sink.recording(key)
    wait_until_written(recording, 20)
    found = probe(recording)
    codecs = {s["codec_type"]: s["codec_name"] for s in found["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}, codecs
    recorded_s = float(found["format"]["duration"])
    print(f"{viewport}: recorded {recorded_s:.1f} s, on air {on_air_s:.1f} s, a pass {one_pass_s:.1f} s")
    assert recorded_s > one_pass_s, "the loop played less than one pass"
    assert abs(recorded_s - on_air_s) <= RECORDING_SLACK_S, (recorded_s, on_air_s)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_account_not_yet_confirmed_is_confirmed_with_its_code_then_signs_in(
    browser: Any, local_mode: LocalModeProcess, runtime_config: dict[str, str], viewport: str
) -> None:
    """In AWS a sign-up waits for the code Cognito emails; local mode confirms at once. An account signed up
    in the pool behind local mode's back is one still waiting: signing in with it brings the confirm form."""
    from playwright.sync_api import expect

    email = f"unconfirmed-{viewport}-{secrets.token_hex(4)}@example.com"
    started = next(
        json.loads(line)
        for line in local_mode.log_file.read_text().splitlines()
        if '"resources created"' in line
    )
    pool = boto3.client(
        "cognito-idp",
        endpoint_url=started["endpoint_url"],
        region_name=runtime_config["region"],
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
    )
    signed_up = pool.sign_up(
        ClientId=runtime_config["userPoolClientId"],
        Username=email,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    assert signed_up["UserConfirmed"] is False
    context = new_context(browser, viewport)
    page = context.new_page()
    problems = watch_for_problems(page, console=False)  # the refused sign-in is a 400 the browser logs
    hands = Hands(page, touch=viewport == "phone")
    try:
        page.goto(local_mode.url + "/")
        page.locator("#signin-email").fill(email)
        page.locator("#signin-password").fill(PASSWORD)
        hands.press(page.get_by_role("button", name="Sign in"))
        confirm = page.locator("#confirm-form")
        expect(confirm.get_by_role("heading", name="Confirm your account")).to_be_visible()
        expect(confirm).to_contain_text(f"We emailed a code to {email}.")
        fits(page)
        confirm.scroll_into_view_if_needed()
        screenshot(page, "confirm", viewport)
        hands.press(confirm.get_by_role("button", name="Confirm account"))
        expect(page.locator("#confirm-code-error")).to_have_text("Enter the code from the email.")
        confirm.get_by_label("Code").fill("123456")
        hands.press(confirm.get_by_role("button", name="Confirm account"))
        expect(page.locator("#message")).to_have_text("Account confirmed. You can sign in now.")
        expect(page.locator("#signin-password")).to_be_focused()
        page.locator("#signin-password").fill(PASSWORD)
        hands.press(page.get_by_role("button", name="Sign in"))
        expect(page.get_by_role("heading", name="Library", level=1)).to_be_focused()
        assert problems == [], problems
    finally:
        context.close()
