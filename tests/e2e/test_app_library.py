"""The Library screen in Chromium against local mode, as a person uses it: two files dropped at once, each
with its own progress bar to 100 %, both ending ready with their duration and thumbnail (and no serious axe
violation with them listed); an upload resumed after its page was closed mid-file, sending only the parts
S3 did not have; an import from a link served on 127.0.0.1; a text file under a video's name failing with
its reason in plain words, then deleted after a question. (The screen's screenshots come from
tests/e2e/test_app_journey.py.)"""

from __future__ import annotations

import base64
import re
import secrets
import struct
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.app_pages import (
    MEDIA_JOB_TIMEOUT_MS,
    serious_violations,
    sign_in,
    small_clip,
    watch_for_problems,
)
from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    User,
    sign_up_and_in,
)
from tests.integration.file_server import ServedFile, serve_files

MIB = 1024 * 1024
PART_SIZE = 16 * MIB  # the API's (playout.settings upload_part_size_bytes)

DROP_FILES = """([zone, files]) => {
  const transfer = new DataTransfer();
  for (const { name, type, b64 } of files) {
    const text = atob(b64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    transfer.items.add(new File([bytes], name, { type }));
  }
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}"""


def _clip_of_parts(path: Path, parts: int) -> Path:
    """A small stream-ready clip padded with an MP4 `free` box (players skip it) to `parts` parts."""
    small_clip(path, 2)
    padding = (parts - 1) * PART_SIZE + MIB - path.stat().st_size
    with path.open("ab") as clip:
        clip.write(struct.pack(">I4s", padding + 8, b"free") + bytes(padding))
    return path


def _open_library(page: Any, local_mode: LocalModeProcess, user: User) -> None:
    from playwright.sync_api import expect

    sign_in(page, local_mode, user, "#/library")
    expect(page.get_by_role("heading", name="Library", level=1)).to_be_visible()


def _media_item(page: Any, filename: str) -> Any:
    return page.locator("#media-list > li").filter(has=page.get_by_role("heading", name=filename, exact=True))


@pytest.fixture(scope="module")
def lena(local_mode: LocalModeProcess, runtime_config: dict[str, str]) -> User:
    return sign_up_and_in(local_mode, runtime_config, f"lena-{secrets.token_hex(4)}@example.com")


def test_two_files_dropped_at_once_upload_with_progress_to_100_and_end_ready(
    browser: Any, local_mode: LocalModeProcess, lena: User, make_client: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    api: ApiClient = make_client(lena)
    clips = [small_clip(tmp_path / "beach.mp4", 3), small_clip(tmp_path / "city.mp4", 4, tone_hz=660)]
    # The app's CSP allows its own scripts only; axe is injected by the test.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    problems = watch_for_problems(page, console=False)
    statuses: dict[str, list[str]] = {}

    def keep_statuses(response: Any) -> None:
        if "/api/media?" in response.url and response.ok:
            for item in response.json()["items"]:
                seen = statuses.setdefault(item["filename"], [])
                if not seen or seen[-1] != item["status"]:
                    seen.append(item["status"])

    page.on("response", keep_statuses)
    try:
        _open_library(page, local_mode, lena)
        expect(page.locator("#media-empty")).to_contain_text("No videos yet")
        files = [
            {"name": c.name, "type": "video/mp4", "b64": base64.b64encode(c.read_bytes()).decode()}
            for c in clips
        ]
        page.evaluate(DROP_FILES, [page.locator("#dropzone").element_handle(), files])

        for clip in clips:
            bar = page.get_by_role("progressbar", name=clip.name)
            expect(bar).to_have_js_property("value", 100, timeout=60_000)
            row = page.locator("#uploads > li").filter(has=bar)
            expect(row).to_have_attribute("data-state", "done")
            expect(row).to_contain_text("Sent · 100 %")
        for clip, duration in zip(clips, ["0:03", "0:04"], strict=True):
            item = _media_item(page, clip.name)
            expect(item).to_have_attribute("data-status", "ready", timeout=MEDIA_JOB_TIMEOUT_MS)
            expect(item.locator(".media-status")).to_have_text("Ready")
            expect(item.locator(".duration")).to_have_text(duration)
            expect(item.locator(".size")).to_have_text(_size_words(clip.stat().st_size))
            thumbnail = item.locator(".media-thumb img")
            expect(thumbnail).to_be_visible()
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
            )
        # The list asked while the jobs ran, and saw each file go through its statuses in order.
        order = ["uploading", "probing", "conforming", "ready"]
        for clip in clips:
            seen = statuses[clip.name]
            assert seen[-1] == "ready", seen
            assert seen == sorted(seen, key=order.index), seen
        assert {m["filename"]: m["status"] for m in api.ok("GET", "/api/media")["items"]} == {
            "beach.mp4": "ready",
            "city.mp4": "ready",
        }

        # With items listed: no serious accessibility violation.
        page.get_by_role("button", name="Clear sent uploads").click()
        expect(page.locator("#uploads")).to_have_count(0)
        assert serious_violations(page) == []
        # Polling stops once nothing is pending.
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/api/media?" in r.url else None)
        page.wait_for_timeout(6_000)
        assert asked == [], asked
        assert problems == [], problems
    finally:
        context.close()


def _size_words(size: int) -> str:
    value, unit = float(size), 0
    units = ["B", "KiB", "MiB", "GiB"]
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    digits = 0 if unit == 0 or value >= 100 else 1
    return f"{value:.{digits}f} {units[unit]}"


def test_a_text_file_named_like_a_video_fails_with_its_reason_and_is_deleted_after_a_question(
    browser: Any, local_mode: LocalModeProcess, lena: User, make_client: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    api: ApiClient = make_client(lena)
    notes = tmp_path / "notes.mp4"
    notes.write_text("Shopping list: eggs, milk, a better camera.\n" * 40)
    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page, console=False)
    try:
        _open_library(page, local_mode, lena)
        # The picker: a real button, by keyboard.
        # (after sign-in the app moves the focus to the heading: wait for it, or it takes the focus back)
        expect(page.get_by_role("heading", name="Library", level=1)).to_be_focused()
        expect(page.locator("#media-list, #media-empty").first).to_be_visible()  # the list is in
        with page.expect_file_chooser() as chosen:
            page.get_by_role("button", name="Choose files…").press("Enter")
        chosen.value.set_files(str(notes))
        expect(page.get_by_role("progressbar", name="notes.mp4")).to_have_js_property("value", 100)
        item = _media_item(page, "notes.mp4")
        expect(item).to_have_attribute("data-status", "failed", timeout=MEDIA_JOB_TIMEOUT_MS)
        status = item.locator(".media-status")
        expect(status).to_contain_text("Failed: ")
        reason = status.inner_text().removeprefix("Failed: ")
        media = next(m for m in api.ok("GET", "/api/media")["items"] if m["filename"] == "notes.mp4")
        assert media["error"], media
        assert reason == media["error"], (reason, media)

        item.get_by_role("button", name="Delete notes.mp4").click()
        expect(
            item.get_by_role("group", name="Delete “notes.mp4”? Its file is removed for good.")
        ).to_be_visible()
        item.get_by_role("button", name="Yes, delete").click()
        expect(page.locator("#message")).to_have_text("“notes.mp4” is deleted.")
        expect(item).to_have_count(0)
        assert media["media_id"] not in {m["media_id"] for m in api.ok("GET", "/api/media")["items"]}
        assert problems == [], problems
    finally:
        context.close()


def test_an_import_from_a_link_shows_its_errors_beside_the_field_then_ends_ready(
    browser: Any, local_mode: LocalModeProcess, lena: User, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    clip = small_clip(tmp_path / "lecture.mp4", 3).read_bytes()
    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page, console=False)
    try:
        _open_library(page, local_mode, lena)
        field = page.get_by_label("Link to a video file")
        field.fill("ftp://example.com/film.mp4")
        page.get_by_role("button", name="Import").click()
        expect(page.locator("#import-url-error")).to_have_text(
            "Enter the full link to a video file, starting with http:// or https://."
        )
        expect(field).to_be_focused()
        expect(field).to_have_attribute("aria-invalid", "true")
        field.fill(
            "http://169.254.169.254/latest/meta-data"
        )  # the API refuses it: 422, said beside the field
        page.get_by_role("button", name="Import").click()
        expect(page.locator("#import-url-error")).not_to_contain_text("http:// or https://")
        expect(page.locator("#import-url-error")).not_to_be_empty()

        with serve_files() as server:
            server.files["/talks/lecture.mp4"] = ServedFile(clip)
            field.fill(server.url("/talks/lecture.mp4"))
            page.get_by_role("button", name="Import").click()
            expect(page.locator("#message")).to_have_text(
                "Importing “lecture.mp4”: follow it in the list below."
            )
            expect(page.locator("#import-url-error")).to_have_count(0)
            expect(field).to_have_value("")
            item = _media_item(page, "lecture.mp4")
            expect(item).to_be_visible()
            expect(item).to_have_attribute("data-status", "ready", timeout=MEDIA_JOB_TIMEOUT_MS)
            expect(item.locator(".duration")).to_have_text("0:03")
            expect(item.locator(".media-thumb img")).to_be_visible()
        assert problems == [], problems
    finally:
        context.close()


def test_an_upload_closed_mid_file_resumes_with_only_the_missing_parts(
    browser: Any, local_mode: LocalModeProcess, lena: User, make_client: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    api: ApiClient = make_client(lena)
    video = _clip_of_parts(tmp_path / "marathon.mp4", 3)
    context = browser.new_context()  # one browser profile: its localStorage outlives the tab
    sent: list[int] = []

    def is_part(url: str) -> bool:
        return "partNumber=" in url

    def part_number(url: str) -> int:
        return int(parse_qs(urlsplit(url).query)["partNumber"][0])

    def note_part(request: Any) -> None:
        if request.method == "PUT" and is_part(request.url):
            sent.append(part_number(request.url))

    def first_part_only(route: Any) -> None:
        number = part_number(route.request.url)
        sent.append(number)
        if number == 1:
            route.continue_()
        else:
            # Parts 2 and 3 never leave the tab, however often it tries, until the tab is closed. Not held
            # paused: Chromium lets a paused request go on when the tab closes under it, and it may arrive.
            route.abort("connectionreset")

    page = context.new_page()
    page.route(is_part, first_part_only)
    try:
        _open_library(page, local_mode, lena)
        with page.expect_response(lambda r: "partNumber=1" in r.url and r.status == 200, timeout=60_000):
            page.locator("#file-input").set_input_files(str(video))
        media = next(m for m in api.ok("GET", "/api/media")["items"] if m["filename"] == "marathon.mp4")
        assert media["status"] == "uploading"
        resumed = api.ok("GET", f"/api/media/{media['media_id']}/upload")
        assert [p["part_number"] for p in resumed["uploaded_parts"]] == [1]
        assert len(resumed["upload"]["parts"]) == 3
        page.close()  # mid-file: parts 2 and 3 never arrived
        after_close = api.ok("GET", f"/api/media/{media['media_id']}/upload")["uploaded_parts"]
        had = {p["part_number"] for p in after_close}
        assert 1 in had, had
        assert len(had) < 3, had  # mid-file: at least one part never arrived

        sent.clear()
        context.on("request", note_part)  # the browser's own record of what it sent, not a route's
        page = context.new_page()
        problems = watch_for_problems(page, console=False)
        _open_library(page, local_mode, lena)
        item = _media_item(page, "marathon.mp4")
        expect(item.locator(".media-status")).to_have_text(
            "Upload interrupted: choose the same file again to resume it"
        )
        page.locator("#file-input").set_input_files(str(video))
        bar = page.get_by_role("progressbar", name="marathon.mp4")
        expect(bar).to_have_js_property("value", 100, timeout=60_000)
        expect(page.locator("#uploads > li").filter(has=bar)).to_contain_text("resumed")
        expect(item).to_have_attribute("data-status", "ready", timeout=MEDIA_JOB_TIMEOUT_MS)
        assert sorted(sent) == sorted({1, 2, 3} - had), (sent, had)  # only the missing parts went again
        same = [m for m in api.ok("GET", "/api/media")["items"] if m["filename"] == "marathon.mp4"]
        assert [m["media_id"] for m in same] == [media["media_id"]]
        assert same[0]["size_bytes"] == video.stat().st_size
        assert page.evaluate("localStorage.getItem('playout.uploads')") is None
        assert problems == [], problems
    finally:
        context.close()


def test_a_lost_connection_is_said_in_plain_words_then_retried_and_a_paused_upload_cancelled(
    browser: Any, local_mode: LocalModeProcess, lena: User, make_client: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    api: ApiClient = make_client(lena)
    trail = small_clip(tmp_path / "trail.mp4", 2)
    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page, console=False)

    def is_part(url: str) -> bool:
        return "partNumber=" in url

    def cut(route: Any) -> None:
        route.abort("internetdisconnected")

    try:
        _open_library(page, local_mode, lena)
        context.route(is_part, cut)
        page.locator("#file-input").set_input_files(str(trail))
        row = page.locator("#uploads > li").filter(has=page.get_by_role("progressbar", name="trail.mp4"))
        expect(row).to_have_attribute("data-state", "failed", timeout=30_000)
        expect(row.get_by_role("alert")).to_have_text(
            "The connection was lost while sending this file. Retry to go on from where it stopped."
        )
        context.unroute(is_part, cut)
        row.get_by_role("button", name="Retry trail.mp4").click()
        expect(row).to_have_attribute("data-state", "done", timeout=30_000)
        expect(row.get_by_role("progressbar")).to_have_js_property("value", 100)
        expect(_media_item(page, "trail.mp4")).to_have_attribute(
            "data-status", "ready", timeout=MEDIA_JOB_TIMEOUT_MS
        )

        # Pause while a part hangs, then cancel: the media and what was sent are deleted.
        held: list[Any] = []

        def hold(route: Any) -> None:
            held.append(route)  # never answered: a line too slow to finish

        context.route(is_part, hold)
        page.locator("#file-input").set_input_files(str(small_clip(tmp_path / "hike.mp4", 2)))
        hike = page.locator("#uploads > li").filter(has=page.get_by_role("progressbar", name="hike.mp4"))
        expect(hike.get_by_role("button", name="Pause hike.mp4")).to_be_visible()
        expect(hike).to_have_attribute("data-media-id", re.compile(r"^med_"))
        media_id = hike.get_attribute("data-media-id")
        hike.get_by_role("button", name="Pause hike.mp4").click()
        expect(hike).to_have_attribute("data-state", "paused")
        expect(hike.get_by_role("button", name="Resume hike.mp4")).to_be_visible()
        hike.get_by_role("button", name="Cancel hike.mp4").click()
        expect(hike).to_have_count(0)
        expect(_media_item(page, "hike.mp4")).to_have_count(0)
        assert media_id not in {m["media_id"] for m in api.ok("GET", "/api/media")["items"]}
        assert problems == [], problems
    finally:
        context.close()
