"""The Playlists screen in Chromium against local mode, as a person uses it: a new user is told what to do
first; a user with three ready videos makes a playlist in the page, adds them (one twice, then removes it),
reorders by keyboard (Move up / Move down, the focus following the item, each move announced) and by dragging
an item's handle with the pointer, turns shuffle on, sees the length of a pass, finds the order saved after a
reload and through the API, renames it and deletes it after a question. The editor with items passes axe-core
(no serious or critical violation) at desktop and phone width and fits a phone without a sideways scroll (its
screenshots come from tests/e2e/test_app_journey.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.app_pages import (
    VIEWPORTS,
    Creator,
    fits,
    ready_video,
    require_axe,
    serious_violations,
    sign_in,
    watch_for_problems,
)
from tests.e2e.conftest import LocalModeProcess, sign_up_and_in

CLIPS = {"sunrise.mp4": (4, 330), "harbour.mp4": (6, 440), "night-train.mp4": (8, 550)}  # seconds, tone


def _hms(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@pytest.fixture(scope="module")
def paula(make_creator: Callable[..., Creator]) -> Creator:
    """Paula, with three ready videos (CLIPS)."""
    return make_creator("paula", CLIPS)


def _order(page: Any) -> list[str]:
    return list(page.locator("#playlist-items .pl-name").all_inner_texts())


def _saved(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#playlist-save")).to_have_text("All changes saved")
    expect(page.locator("#playlist-save-error")).to_have_count(0)


def test_a_new_user_is_told_to_upload_videos_then_make_a_playlist(
    browser: Any, local_mode: LocalModeProcess, runtime_config: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    newcomer = sign_up_and_in(local_mode, runtime_config, f"newt-{secrets.token_hex(4)}@example.com")
    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, newcomer, "#/playlists")
        empty = page.locator("#playlists-empty")
        expect(empty).to_contain_text("Upload videos in the Library, then make a playlist")
        empty.get_by_role("link", name="Upload videos in the Library").click()
        expect(page.get_by_role("heading", name="Library", level=1)).to_be_focused()
        assert problems == [], problems
    finally:
        context.close()


def test_a_playlist_is_made_filled_reordered_by_keyboard_and_drag_shuffled_saved_renamed_and_deleted(
    browser: Any,
    local_mode: LocalModeProcess,
    paula: Creator,
) -> None:
    from playwright.sync_api import expect

    sunrise, harbour, night = CLIPS
    seconds = {name: float(media["duration_s"]) for name, media in paula.videos.items()}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, paula.user, "#/playlists")
        expect(page.locator("#playlists-empty")).to_be_visible()

        # A name is asked for, in plain words next to the field.
        page.get_by_role("button", name="Create playlist").click()
        expect(page.locator("#new-playlist-name-error")).to_have_text(
            "Give the playlist a name, like “Lo-fi all night”."
        )
        expect(page.get_by_label("Name", exact=True)).to_be_focused()
        page.get_by_label("Name", exact=True).fill("Evening loop")
        page.get_by_role("button", name="Create playlist").click()
        expect(page.get_by_role("heading", name="Evening loop", level=1)).to_be_focused()
        playlist_id = page.evaluate("location.hash").removeprefix("#/playlists/")
        assert playlist_id.startswith("pls_"), playlist_id
        expect(page.locator("#playlist-items-empty")).to_be_visible()

        # Only ready videos are offered, each with its thumbnail, name and length.
        picker = page.locator("#library-picker li")
        expect(picker).to_have_count(3)
        for name in CLIPS:
            row = page.locator(f"#library-picker li[data-media-id='{paula.videos[name]['media_id']}']")
            expect(row.locator(".pl-name")).to_have_text(name)
            expect(row.locator(".pl-duration")).to_have_text(_hms(seconds[name]))
            expect(row.locator("img.pl-thumb")).to_have_js_property("complete", True)
            assert row.locator("img.pl-thumb").evaluate("img => img.naturalWidth") > 0

        for name in (sunrise, harbour, night, sunrise):
            page.get_by_role("button", name=f"Add {name}").click()
        expect(page.locator("#playlist-announce")).to_contain_text(f"{sunrise} added at position 4")
        expect(page.locator("#playlist-count")).to_have_text("4 videos")
        expect(page.locator("#playlist-duration")).to_have_text(
            _hms(sum(seconds.values()) + seconds[sunrise])
        )
        _saved(page)
        # The repeat goes again; the focus moves to the Remove of the item now last.
        page.locator("#playlist-items li").nth(3).get_by_role(
            "button", name=f"Remove {sunrise} from the playlist"
        ).click()
        expect(page.locator("#playlist-announce")).to_contain_text(f"{sunrise} removed. 3 videos left")
        expect(page.get_by_role("button", name=f"Remove {night} from the playlist")).to_be_focused()
        assert _order(page) == [sunrise, harbour, night]
        total = _hms(sum(seconds.values()))
        expect(page.locator("#playlist-duration")).to_have_text(total)
        _saved(page)

        # By keyboard: the focus stays on the moved item, each move is announced.
        page.get_by_role("button", name=f"Move {night} up").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#playlist-announce")).to_have_text(f"{night} moved to position 2 of 3.")
        expect(page.get_by_role("button", name=f"Move {night} up")).to_be_focused()
        page.keyboard.press("Space")
        expect(page.locator("#playlist-announce")).to_have_text(f"{night} moved to position 1 of 3.")
        # First now, so it cannot go up: the focus is on its Move down.
        expect(page.get_by_role("button", name=f"Move {night} up")).to_be_disabled()
        expect(page.get_by_role("button", name=f"Move {night} down")).to_be_focused()
        assert _order(page) == [night, sunrise, harbour]
        _saved(page)

        # By pointer: the last item's handle dragged above the first.
        items = page.locator("#playlist-items li")
        handle = items.nth(2).locator(".pl-handle").bounding_box()
        first = items.nth(0).bounding_box()
        assert handle is not None
        assert first is not None
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(handle["x"] + handle["width"] / 2, first["y"] + 4, steps=12)
        expect(items.first.locator(".pl-name")).to_have_text(harbour)  # shown where it will land
        page.mouse.up()
        expect(page.locator("#playlist-announce")).to_have_text(f"{harbour} moved to position 1 of 3.")
        assert _order(page) == [harbour, night, sunrise]
        _saved(page)

        page.get_by_label("Shuffle: play the videos in a random order").check()
        expect(page.locator("#playlist-announce")).to_contain_text("Shuffle is on")
        _saved(page)
        expect(page.locator("#playlist-duration")).to_have_text(total)

        wanted = [paula.videos[name]["media_id"] for name in (harbour, night, sunrise)]
        stored = paula.api.ok("GET", f"/api/playlists/{playlist_id}")
        assert stored["media_ids"] == wanted, stored
        assert stored["shuffle"] is True, stored
        assert stored["duration_s"] == pytest.approx(sum(seconds.values()), abs=0.01), stored
        assert stored["name"] == "Evening loop", stored

        # A reload opens the same playlist with the order saved.
        page.reload()
        expect(page.get_by_role("heading", name="Evening loop", level=1)).to_be_visible()
        expect(page.locator("#playlist-items li")).to_have_count(3)
        assert _order(page) == [harbour, night, sunrise]
        expect(page.get_by_label("Shuffle: play the videos in a random order")).to_be_checked()
        expect(page.locator("#playlist-duration")).to_have_text(total)
        for image in page.locator("#playlist-items img.pl-thumb, #library-picker img.pl-thumb").all():
            expect(image).to_have_js_property("complete", True)

        # Renamed: the heading follows, the API has it.
        page.get_by_label("Playlist name").fill("   ")
        page.get_by_role("button", name="Rename").click()
        expect(page.locator("#playlist-name-error")).to_contain_text("Give the playlist a name")
        page.get_by_label("Playlist name").fill("Night loop")
        page.get_by_role("button", name="Rename").click()
        expect(page.get_by_role("heading", name="Night loop", level=1)).to_be_visible()
        _saved(page)
        assert paula.api.ok("GET", f"/api/playlists/{playlist_id}")["name"] == "Night loop"

        # The list: count and length of a pass.
        page.get_by_role("link", name="All playlists").click()
        expect(page.get_by_role("heading", name="Playlists", level=1)).to_be_focused()
        row = page.locator(f"#playlist-list li[data-playlist-id='{playlist_id}']")
        expect(row.locator(".pl-name")).to_have_text("Night loop")
        expect(row.locator(".pl-meta")).to_have_text(f"3 videos · {total} · shuffled")

        # Deleted after a question; Cancel (or Escape) keeps it.
        page.get_by_role("button", name="Delete playlist Night loop").click()
        expect(page.get_by_role("button", name="Cancel")).to_be_focused()
        page.keyboard.press("Escape")
        expect(page.get_by_role("button", name="Delete playlist Night loop")).to_be_focused()
        expect(row).to_have_count(1)
        page.get_by_role("button", name="Delete playlist Night loop").click()
        page.get_by_role("button", name="Yes, delete").click()
        expect(page.locator("#message")).to_have_text("Playlist “Night loop” is deleted.")
        expect(page.locator("#playlists-empty")).to_be_visible()
        assert paula.api.ok("GET", "/api/playlists")["items"] == []
        assert paula.api.get(f"/api/playlists/{playlist_id}").status_code == 404
        assert problems == [], problems
    finally:
        context.close()


def test_a_playlist_deleted_from_its_editor_goes_back_to_the_list(
    browser: Any,
    local_mode: LocalModeProcess,
    paula: Creator,
) -> None:
    from playwright.sync_api import expect

    made = paula.api.ok(
        "POST",
        "/api/playlists",
        {"name": "Short one", "media_ids": [paula.videos["harbour.mp4"]["media_id"]]},
        201,
    )
    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, paula.user, f"#/playlists/{made['playlist_id']}")
        expect(page.get_by_role("heading", name="Short one", level=1)).to_be_visible()
        page.get_by_role("button", name="Delete playlist Short one").click()
        page.get_by_role("button", name="Yes, delete").click()
        expect(page.locator("#message")).to_have_text("Playlist “Short one” is deleted.")
        expect(page.get_by_role("heading", name="Playlists", level=1)).to_be_focused()
        assert page.evaluate("location.hash") == "#/playlists"
        assert paula.api.get(f"/api/playlists/{made['playlist_id']}").status_code == 404
        assert problems == [], problems
    finally:
        context.close()


def test_a_video_deleted_from_the_library_is_named_in_plain_words_and_removing_it_saves(
    browser: Any,
    local_mode: LocalModeProcess,
    paula: Creator,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    doomed = ready_video(paula.api, local_mode, tmp_path / "doomed.mp4", 2, 660)
    harbour = paula.videos["harbour.mp4"]["media_id"]
    made = paula.api.ok(
        "POST", "/api/playlists", {"name": "Fragile", "media_ids": [harbour, doomed["media_id"]]}, 201
    )
    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, paula.user, f"#/playlists/{made['playlist_id']}")
        expect(page.locator("#playlist-items li")).to_have_count(2)
        # Deleted from the library (another tab, another device) while the playlist is open.
        paula.api.ok("DELETE", f"/api/media/{doomed['media_id']}", status=204)
        page.get_by_role("button", name="Move doomed.mp4 up").click()
        expect(page.locator("#playlist-save-error")).to_contain_text(
            "Your last change is not saved: a video in it was deleted from the library."
        )
        deleted = page.locator("#playlist-items li.pl-item-missing")
        expect(deleted.locator(".pl-name")).to_have_text("A deleted video")
        expect(page.locator("#playlist-duration-unknown")).to_contain_text("a video in it was deleted")
        deleted.get_by_role("button", name="Remove A deleted video from the playlist").click()
        _saved(page)
        expect(page.locator("#playlist-duration")).to_have_text(
            _hms(paula.videos["harbour.mp4"]["duration_s"])
        )
        assert paula.api.ok("GET", f"/api/playlists/{made['playlist_id']}")["media_ids"] == [harbour]
        # The refused save (422: the body names media that no longer exist) is all the browser reports.
        assert problems == [
            "console error: Failed to load resource: "
            "the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
        ], problems
    finally:
        context.close()
        paula.api.ok("DELETE", f"/api/playlists/{made['playlist_id']}", status=204)


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_playlist_editor_with_items_has_no_serious_accessibility_violation_and_fits_a_phone(
    browser: Any,
    local_mode: LocalModeProcess,
    paula: Creator,
    viewport: str,
) -> None:
    from playwright.sync_api import expect

    require_axe()
    ids = [media["media_id"] for media in paula.videos.values()]
    made = paula.api.ok("POST", "/api/playlists", {"name": f"Axe {viewport}", "media_ids": ids}, 201)
    size = VIEWPORTS[viewport]
    context = browser.new_context(viewport=size, bypass_csp=True)
    page = context.new_page()
    try:
        sign_in(page, local_mode, paula.user, f"#/playlists/{made['playlist_id']}")
        expect(page.locator("#playlist-items li")).to_have_count(3)
        page.wait_for_load_state("networkidle")
        found = {"editor": serious_violations(page)}
        fits(page)
        page.get_by_role("link", name="All playlists").click()
        expect(page.locator("#playlist-list li").first).to_be_visible()
        found["list"] = serious_violations(page)
        assert {screen: problems for screen, problems in found.items() if problems} == {}
    finally:
        context.close()
        paula.api.ok("DELETE", f"/api/playlists/{made['playlist_id']}", status=204)
