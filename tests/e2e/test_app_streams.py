"""The Streams screens in Chromium against local mode, as a person uses them: a new user is told what a
stream needs first; a user with a ready video and an RTMP destination at the test nginx-rtmp makes a stream in
the page (errors said next to their fields first), starts it, sees it live with the bitrate and frame-rate
sparklines gaining points reading by reading and the events timeline, stops it after a question and sees it
ended (the page then stops asking the API); the sink's recording has video and audio. A stream scheduled ahead
is shown in the browser's time zone (named), listed as scheduled, unscheduled and deleted (kept as screenshots
under build/screenshots/). Both screens pass axe-core (no serious or critical violation). A start the API
refuses (the account's limit of streams at once, a YouTube channel already on air) is said next to Start and
changes nothing else."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.app_pages import (
    START_TO_LIVE_TIMEOUT_MS,
    STOP_TO_ENDED_TIMEOUT_MS,
    VIEWPORTS,
    ZONE,
    Creator,
    api_stream,
    fill_stream_form,
    fits,
    make_stream,
    new_context,
    ready_video,
    require_axe,
    rtmp_destination,
    screenshot,
    serious_violations,
    sign_in,
    sparklines_gain_points,
    submit_stream_form,
    wait_for_more_points,
    watch_for_problems,
)
from tests.e2e.conftest import (
    Emulator,
    LocalModeProcess,
    RtmpSink,
    connect_channel,
    sign_up_and_in,
    wait_for_status,
)
from tests.e2e.recording import wait_until_written
from tests.media_probe import probe

VIDEO = "harbour-lights.mp4"


@pytest.fixture(scope="module")
def stella(make_creator: Callable[..., Creator]) -> Creator:
    """Stella, with a ready video."""
    return make_creator("stella", {VIDEO: (8, 440)})


@pytest.fixture(scope="module")
def ready_video_id(stella: Creator) -> str:
    return str(stella.videos[VIDEO]["media_id"])


@pytest.fixture(scope="module")
def sink_destination(
    stella: Creator, rtmp_sink: RtmpSink, stream_keys: list[str]
) -> tuple[dict[str, Any], str]:
    """Stella's RTMP destination at the test nginx-rtmp, and its stream key (the recording's name there)."""
    return rtmp_destination(stella.api, rtmp_sink.url, stream_keys)


def test_a_new_user_is_told_what_a_stream_needs_first(
    browser: Any, local_mode: LocalModeProcess, runtime_config: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    newcomer = sign_up_and_in(local_mode, runtime_config, f"newt-{secrets.token_hex(4)}@example.com")
    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, newcomer, "#/streams")
        expect(page.locator("#streams-empty")).to_contain_text("No streams yet.")
        need = page.locator("#streams-need-media")
        expect(need).to_contain_text("A stream needs a ready video first.")
        need.get_by_role("link", name="Upload videos in the Library").click()
        expect(page.get_by_role("heading", name="Library", level=1)).to_be_focused()
        assert problems == [], problems
    finally:
        context.close()


def test_a_stream_is_made_in_the_page_started_watched_live_stopped_and_recorded(
    browser: Any,
    local_mode: LocalModeProcess,
    stella: Creator,
    ready_video_id: str,
    sink_destination: tuple[dict[str, Any], str],
    rtmp_sink: RtmpSink,
) -> None:
    from playwright.sync_api import expect

    destination, key = sink_destination
    title = "Harbour lights, all night"
    context = new_context(browser)
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, stella.user, "#/streams")
        expect(page.locator("#streams-empty")).to_be_visible()

        # Nothing filled in: each problem is said next to its field, the focus on the first.
        page.get_by_role("button", name="Create stream").click()
        expect(page.locator("#stream-title-error")).to_contain_text("Give the stream a title")
        expect(page.locator("#stream-what-error")).to_have_text("Choose at least one ready video.")
        expect(page.locator("#stream-destinations-error")).to_have_text("Choose at least one destination.")
        expect(page.get_by_label("Title")).to_be_focused()

        page.get_by_label("Description (optional)").fill("Made in the browser by an e2e test.")
        fill_stream_form(
            page,
            title,
            media_ids=[ready_video_id],
            destination_ids=[destination["destination_id"]],
            loop=True,
        )
        expect(page.locator("#stream-youtube")).to_have_count(0)  # no YouTube destination chosen
        stream_id = submit_stream_form(page, title, scheduled=False)
        expect(page.locator("#stream-status")).to_have_text("Draft")
        made = stella.api.ok("GET", f"/api/streams/{stream_id}")
        assert made["media_ids"] == [ready_video_id], made
        assert made["loop"] is True, made
        assert made["loops"] is None, made
        assert made["description"] == "Made in the browser by an e2e test.", made
        assert [d["destination_id"] for d in made["destinations"]] == [destination["destination_id"]]
        expect(
            page.locator(f"#stream-dests li[data-destination-id='{destination['destination_id']}'] .st-name")
        ).to_have_text("Test sink")

        page.get_by_role("button", name="Start", exact=True).click()
        expect(page.locator("#stream-status")).to_have_text("Live", timeout=START_TO_LIVE_TIMEOUT_MS)
        expect(
            page.locator(f"#stream-dests li[data-destination-id='{destination['destination_id']}']")
        ).to_have_attribute("data-status", "live", timeout=20_000)

        sparklines_gain_points(page)
        expect(page.locator("#spark-fps-value")).to_have_text(re.compile(r"^\d+(\.\d)? fps$"))
        expect(page.locator("#spark-bitrate polyline")).to_have_count(1)

        # The timeline, newest first, has the start and the live.
        events = page.locator("#stream-event-list li")
        expect(page.locator("#stream-event-list li[data-type='live']")).to_have_count(1)
        types = events.evaluate_all("items => items.map((li) => li.dataset.type)")
        assert types.index("live") < types.index("starting") < types.index("created"), types
        expect(page.locator("#stream-cost-usd")).to_have_text(re.compile(r"^\$\d+\.\d+$"))

        assert serious_violations(page) == []

        # Stop asks first; Cancel keeps it on air.
        page.get_by_role("button", name=f"Stop {title}").click()
        expect(page.get_by_role("button", name="Cancel")).to_be_focused()
        page.get_by_role("button", name="Cancel").click()
        expect(page.locator("#stream-status")).to_have_text("Live")
        page.get_by_role("button", name=f"Stop {title}").click()
        page.get_by_role("button", name="Yes, stop").click()
        expect(page.locator("#stream-status")).to_have_text("Ended", timeout=STOP_TO_ENDED_TIMEOUT_MS)
        expect(page.locator("#stream-event-list li").first).to_have_attribute("data-type", "ended")
        assert stella.api.ok("GET", f"/api/streams/{stream_id}")["status"] == "ended"

        # Over: the page asks no more.
        asked: list[str] = []
        page.on(
            "request",
            lambda request: asked.append(request.url) if f"/api/streams/{stream_id}" in request.url else None,
        )
        page.wait_for_timeout(6_000)
        assert asked == [], asked

        page.get_by_role("link", name="All streams").click()
        expect(page.get_by_role("heading", name="Streams", level=1)).to_be_focused()
        row = page.locator(f"#stream-list li[data-stream-id='{stream_id}']")
        expect(row).to_have_attribute("data-status", "ended")
        expect(row.locator(".st-status")).to_have_text("Ended")
        expect(row.locator(".st-next")).to_have_text("Over: see what happened")
        assert serious_violations(page) == []
        assert problems == [], problems
    finally:
        context.close()

    recording = rtmp_sink.recording(key)
    wait_until_written(recording, 20)
    codecs = {s["codec_type"]: s["codec_name"] for s in probe(recording)["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}, codecs


def test_a_stream_scheduled_ahead_is_shown_in_the_browsers_time_zone_then_unscheduled_and_deleted(
    browser: Any,
    local_mode: LocalModeProcess,
    stella: Creator,
    ready_video_id: str,
    sink_destination: tuple[dict[str, Any], str],
) -> None:
    from playwright.sync_api import expect

    require_axe()
    destination, _ = sink_destination
    title = f"Morning show {secrets.token_hex(2)}"
    # Ahead of the 90 s pre-warm (a start due sooner begins at once and waits on air for its time).
    at = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    local = at.astimezone(ZoneInfo(ZONE))
    context = new_context(browser)
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, stella.user, "#/streams")
        # A time already past is said next to the field.
        fill_stream_form(
            page,
            title,
            media_ids=[ready_video_id],
            destination_ids=[destination["destination_id"]],
            at=at - timedelta(hours=1),
        )
        page.get_by_role("button", name="Schedule stream").click()
        expect(page.locator("#stream-when-error")).to_have_text("That time has passed: choose a time ahead.")
        page.get_by_label(f"Start at ({ZONE} time)").fill(local.strftime("%Y-%m-%dT%H:%M"))
        stream_id = submit_stream_form(page, title, scheduled=True)
        expect(page.locator("#stream-status")).to_have_text("Scheduled")
        stored = stella.api.ok("GET", f"/api/streams/{stream_id}")
        assert stored["status"] == "scheduled", stored
        assert datetime.fromisoformat(stored["scheduled_start"].replace("Z", "+00:00")) == at, stored
        shown = page.locator("#stream-schedule").inner_text().replace("\u202f", " ")
        clock = local.strftime("%-I:%M %p")
        assert f"{local.strftime('%b')} {local.day}, {local.year}, {clock}" in shown, shown
        assert f"({ZONE} time)" in shown, shown
        # The timeline says the time in the same zone, not in UTC.
        said = page.locator("#stream-event-list li[data-type='scheduled'] .st-event-message")
        assert said.inner_text().replace("\u202f", " ") == f"starts at {shown.removeprefix('Starts ')}"

        page.get_by_role("link", name="All streams").click()
        row = page.locator(f"#stream-list li[data-stream-id='{stream_id}']")
        expect(row).to_have_attribute("data-status", "scheduled")
        expect(row.locator(".st-status")).to_have_text("Scheduled")
        meta = row.locator(".st-meta").inner_text().replace("\u202f", " ")
        assert clock in meta, meta
        assert ZONE in meta, meta
        screenshot(page, "streams-scheduled", "desktop")
        assert serious_violations(page) == []

        # At phone width: nothing wider than the screen, still no serious violation.
        page.set_viewport_size(VIEWPORTS["phone"])
        fits(page)
        assert serious_violations(page) == []
        row.get_by_role("link", name=title, exact=True).click()
        expect(page.locator("#stream-status")).to_have_text("Scheduled")
        fits(page)
        assert serious_violations(page) == []
        screenshot(page, "stream-scheduled", "phone")
        page.set_viewport_size(VIEWPORTS["desktop"])
        page.get_by_role("button", name="Cancel the schedule").click()
        expect(page.locator("#stream-status")).to_have_text("Draft")
        assert stella.api.ok("GET", f"/api/streams/{stream_id}")["status"] == "draft"

        page.get_by_role("button", name=f"Delete stream {title}").click()
        page.get_by_role("button", name="Yes, delete").click()
        expect(page.get_by_role("heading", name="Streams", level=1)).to_be_visible()
        expect(page.locator(f"#stream-list li[data-stream-id='{stream_id}']")).to_have_count(0)
        assert stella.api.get(f"/api/streams/{stream_id}").status_code == 404
        assert problems == [], problems
    finally:
        context.close()


def test_a_refusal_of_the_api_is_said_next_to_the_field_it_names(
    browser: Any,
    local_mode: LocalModeProcess,
    stella: Creator,
    ready_video_id: str,
    sink_destination: tuple[dict[str, Any], str],
    tmp_path: Any,
) -> None:
    from playwright.sync_api import expect

    destination, _ = sink_destination
    doomed = ready_video(stella.api, local_mode, tmp_path / "doomed.mp4", 2, 660)
    context = new_context(browser)
    page = context.new_page()
    try:
        sign_in(page, local_mode, stella.user, "#/streams")
        fill_stream_form(
            page,
            "Gone before it starts",
            media_ids=[doomed["media_id"]],
            destination_ids=[destination["destination_id"]],
        )
        # Deleted elsewhere (another tab) while the form is open: the API refuses, naming the media.
        stella.api.ok("DELETE", f"/api/media/{doomed['media_id']}", status=204)
        page.get_by_role("button", name="Create stream").click()
        expect(page.locator("#stream-what-error")).to_contain_text(f"{doomed['media_id']} not found")
        expect(page.locator("#new-stream-problem")).to_have_count(0)
        assert page.evaluate("location.hash") == "#/streams"
    finally:
        context.close()


def test_a_youtube_destination_brings_its_broadcast_options_and_a_playlist_can_be_played(
    browser: Any,
    local_mode: LocalModeProcess,
    stella: Creator,
    ready_video_id: str,
    emulator: Emulator,
) -> None:
    from playwright.sync_api import expect

    channel = connect_channel(stella.api, emulator)
    playlist = stella.api.ok(
        "POST", "/api/playlists", {"name": "Two passes", "media_ids": [ready_video_id] * 2}, 201
    )
    title = "On the channel"
    context = new_context(browser)
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, stella.user, "#/streams")
        page.get_by_label("Title").fill(title)
        # A playlist with videos is offered first.
        expect(page.get_by_label("A playlist")).to_be_checked()
        page.get_by_label("Playlist", exact=True).select_option(playlist["playlist_id"])
        expect(page.locator("#stream-youtube")).to_have_count(0)
        youtube = page.locator(f"#stream-destinations input[value='{channel['destination_id']}']")
        youtube.check()
        expect(page.locator("#stream-youtube")).to_be_visible()
        page.get_by_label("Made for kids").check()
        page.get_by_label("Viewers may rewind while it is live (DVR)").uncheck()
        page.get_by_label("Latency").select_option("low")
        page.get_by_label("Privacy on YouTube").select_option("public")
        page.get_by_label("A number of passes through the list").check()
        page.get_by_label("Passes", exact=True).fill("0")
        page.get_by_role("button", name="Create stream").click()
        expect(page.locator("#stream-length-error")).to_contain_text("from 1 to 100,000")
        page.get_by_label("Passes", exact=True).fill("3")
        page.get_by_role("button", name="Create stream").click()

        expect(page.get_by_role("heading", name=title, level=1)).to_be_focused()
        stream_id = page.evaluate("location.hash").removeprefix("#/streams/")
        made = stella.api.ok("GET", f"/api/streams/{stream_id}")
        assert made["playlist_id"] == playlist["playlist_id"], made
        assert made["media_ids"] == playlist["media_ids"], made
        assert made["loops"] == 3, made
        assert made["privacy"] == "public", made
        assert made["youtube"] == {"made_for_kids": True, "latency_preference": "low", "enable_dvr": False}
        expect(
            page.locator(f"#stream-dests li[data-destination-id='{channel['destination_id']}'] .st-name")
        ).to_contain_text("YouTube: ")
        page.get_by_role("button", name=f"Delete stream {title}").click()
        page.get_by_role("button", name="Yes, delete").click()
        expect(page.get_by_role("heading", name="Streams", level=1)).to_be_visible()
        assert problems == [], problems
    finally:
        context.close()
        stella.api.ok("DELETE", f"/api/playlists/{playlist['playlist_id']}", status=204)


def test_a_start_scheduled_within_the_prewarm_waits_on_its_way_and_goes_live_at_its_time(
    browser: Any,
    local_mode: LocalModeProcess,
    stella: Creator,
    ready_video_id: str,
    sink_destination: tuple[dict[str, Any], str],
) -> None:
    """Within the 90 s pre-warm the API starts the task at once and it holds its first frame until the time:
    the page says `Starting` with the time to come, then `Live` once it is reached (the next whole minute at
    least 20 s ahead: a datetime-local input takes minutes)."""
    from playwright.sync_api import expect

    destination, _ = sink_destination
    title = f"Top of the minute {secrets.token_hex(2)}"
    at = (datetime.now(UTC) + timedelta(seconds=80)).replace(second=0, microsecond=0)
    local = at.astimezone(ZoneInfo(ZONE))
    context = new_context(browser)
    page = context.new_page()
    problems = watch_for_problems(page)
    stream_id = ""
    try:
        sign_in(page, local_mode, stella.user, "#/streams")
        stream_id = make_stream(
            page,
            title,
            media_ids=[ready_video_id],
            destination_ids=[destination["destination_id"]],
            loop=True,
            at=at,
        )
        assert datetime.now(UTC) < at, "the test was too slow to see the wait"
        expect(page.locator("#stream-status")).to_have_text("Starting")
        shown = page.locator("#stream-schedule").inner_text().replace("\u202f", " ")
        assert local.strftime("%-I:%M %p") in shown, shown
        assert ZONE in shown, shown

        expect(page.locator("#stream-status")).to_have_text("Live", timeout=120_000)
        assert datetime.now(UTC) >= at - timedelta(seconds=3), "live before its time"
        expect(page.locator("#stream-schedule")).to_have_count(0)
        wait_for_more_points(page, "spark-bitrate", 0)
        assert problems == [], problems
    finally:
        context.close()
        if stream_id:
            stella.api.ok("POST", f"/api/streams/{stream_id}/stop", status=202)
            wait_for_status(stella.api, stream_id, {"ended"}, 40)


def test_a_start_the_api_refuses_is_said_beside_start_and_nothing_else_changes(
    browser: Any,
    local_mode: LocalModeProcess,
    make_creator: Callable[..., Creator],
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    emulator: Emulator,
) -> None:
    """With as many streams on air as the account may run at once, one of them on a YouTube channel: a second
    stream to that channel is refused (409: a channel takes one stream at a time), and any other (429: the
    limit). Each refusal is said in the API's words next to Start; the stream stays a draft, the page is not
    reloaded, nothing is started or written to its timeline."""
    from playwright.sync_api import expect

    rhea = make_creator("rhea", {"tide.mp4": (4, 440)})
    video = rhea.videos["tide.mp4"]["media_id"]
    channel = connect_channel(rhea.api, emulator)
    sink, _ = rtmp_destination(rhea.api, rtmp_sink.url, stream_keys)
    limit = int(rhea.api.ok("GET", "/api/me")["max_concurrent_streams"])
    on_air = [api_stream(rhea.api, "Tide on the channel", [video], [channel["destination_id"]], start=True)]
    on_air += [
        api_stream(rhea.api, f"Tide at the sink {n}", [video], [sink["destination_id"]], start=True)
        for n in range(1, limit)
    ]
    refused = {
        "Tide, again on the channel": (
            [channel["destination_id"]],
            f"YouTube channel {channel['channel']['title']} is on air from your stream "
            '"Tide on the channel"; a channel takes one stream from Playout at a time: stop that one first',
        ),
        "Tide, one too many": (
            [sink["destination_id"]],
            f"{limit} streams are already active, the most this account may run at once; "
            "stop one before starting another",
        ),
    }
    drafts = {title: api_stream(rhea.api, title, [video], where) for title, (where, _) in refused.items()}
    context = new_context(browser)
    page = context.new_page()
    problems = watch_for_problems(page, console=False)  # the browser logs each refused request
    try:
        for stream in on_air:
            wait_for_status(rhea.api, stream["stream_id"], {"live"}, START_TO_LIVE_TIMEOUT_MS / 1000)
        sign_in(page, local_mode, rhea.user, "#/streams")
        page.evaluate("window.notReloaded = true")
        for title, (_, words) in refused.items():
            stream_id = drafts[title]["stream_id"]
            page.get_by_role("link", name=title, exact=True).click()
            expect(page.get_by_role("heading", name=title, level=1)).to_be_focused()
            expect(page.locator("#stream-status")).to_have_text("Draft")
            expect(page.locator("#stream-event-list li")).to_have_count(1)

            start = page.get_by_role("button", name="Start", exact=True)
            start.click()
            said = page.locator("#stream-action-error")
            expect(said).to_have_text(words)
            expect(said).to_have_attribute("role", "alert")
            expect(start).to_have_attribute("aria-describedby", "stream-action-error")  # read with the button
            expect(start).to_be_enabled()
            expect(page.locator("#stream-status")).to_have_text("Draft")
            expect(page.locator("#stream-event-list li")).to_have_count(1)
            assert page.evaluate("window.notReloaded") is True
            assert page.evaluate("location.hash") == f"#/streams/{stream_id}"
            stored = rhea.api.ok("GET", f"/api/streams/{stream_id}")
            assert (stored["status"], stored["started_at"]) == ("draft", None), stored
            kinds = [e["type"] for e in rhea.api.ok("GET", f"/api/streams/{stream_id}/events")["items"]]
            assert kinds == ["created"], kinds
            page.get_by_role("link", name="All streams").click()
        assert rhea.api.ok("GET", "/api/me")["active_streams"] == limit
        assert problems == [], problems
    finally:
        context.close()
        for stream in on_air:
            rhea.api.ok("POST", f"/api/streams/{stream['stream_id']}/stop", status=202)
        for stream in on_air:
            wait_for_status(rhea.api, stream["stream_id"], {"ended"}, STOP_TO_ENDED_TIMEOUT_MS / 1000)
