"""The app's shell and screens in Chromium against local mode, as a person uses them: the nav by keyboard with
the focus on each screen's heading, the hash routes, an RTMP destination added and deleted (its key never
shown again), sign-out everywhere (the other device's refresh token no longer works), a session past its
tokens' hour refreshed without a word, and every screen at phone width without a sideways scroll."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.e2e.app_pages import fits, new_context, sign_in, watch_for_problems
from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    User,
    cognito_client,
    sign_up_and_in,
)

SCREENS = [
    ("Library", "#/library", "Library"),
    ("Playlists", "#/playlists", "Playlists"),
    ("Destinations", "#/destinations", "Destinations"),
    ("Streams", "#/streams", "Streams"),
    ("Account", "#/account", "Your account"),
]


@pytest.fixture(scope="module")
def dora(local_mode: LocalModeProcess, runtime_config: dict[str, str]) -> User:
    return sign_up_and_in(local_mode, runtime_config, f"dora-{secrets.token_hex(4)}@example.com")


def test_the_nav_by_keyboard_moves_the_focus_to_each_screens_heading(
    browser: Any, local_mode: LocalModeProcess, dora: User
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, dora)
        for position, (label, route, heading) in enumerate(SCREENS):
            page.get_by_role("link", name="Playout, go to the library").focus()
            for _ in range(position + 1):
                page.keyboard.press("Tab")
            link = page.get_by_role("navigation", name="Main").get_by_role("link", name=label)
            expect(link).to_be_focused()
            # The focus ring shows where the keyboard is.
            assert link.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_focused()
            assert page.evaluate("location.hash") == route
            expect(link).to_have_attribute("aria-current", "page")
            expect(page.get_by_role("main")).to_be_visible()

        # Tab from the heading reaches the screen's first control, not the top of the page.
        page.goto(f"{local_mode.url}/#/destinations")
        expect(page.locator("#youtube-empty")).to_be_visible()
        page.get_by_role("heading", name="Destinations", level=1).focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('main') !== null")

        page.goto(f"{local_mode.url}/#/nowhere")  # an unknown route is the library
        expect(page.get_by_role("heading", name="Library", level=1)).to_be_visible()
        page.goto(f"{local_mode.url}/#/streams/str_0123")  # a stream's page sits under Streams
        expect(page.get_by_role("heading", name="Stream", level=1)).to_be_visible()
        expect(
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Streams")
        ).to_have_attribute("aria-current", "page")
        assert problems == [], problems
    finally:
        context.close()


def test_an_rtmp_destination_is_added_with_a_key_never_shown_again_and_deleted_after_a_question(
    browser: Any, local_mode: LocalModeProcess, dora: User, make_client: Any
) -> None:
    from playwright.sync_api import expect

    api: ApiClient = make_client(dora)
    key = f"live_{secrets.token_hex(12)}"
    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, dora, "#/destinations")
        expect(page.locator("#rtmp-empty")).to_be_visible()

        # Errors in plain words, next to the field that caused them: the browser's own check, then the API's.
        page.get_by_label("Name").fill("Twitch")
        page.get_by_label("Ingest address").fill("http://live.twitch.tv/app")
        page.get_by_label("Stream key").fill(key)
        page.get_by_role("button", name="Save destination").click()
        expect(page.locator("#rtmp-url-error")).to_contain_text("rtmp:// or rtmps://")
        expect(page.get_by_label("Ingest address")).to_be_focused()
        page.get_by_label("Ingest address").fill("rtmp://10.1.2.3/app")  # not a public address
        page.get_by_role("button", name="Save destination").click()
        expect(page.locator("#rtmp-url-error")).to_contain_text("url")
        expect(page.get_by_label("Ingest address")).to_have_attribute("aria-invalid", "true")

        page.get_by_label("Ingest address").fill("rtmp://live.twitch.tv/app")
        page.get_by_role("button", name="Save destination").click()
        expect(page.locator("#message")).to_have_text(
            "Destination “Twitch” is saved. Its stream key is kept secret from now on."
        )
        saved = page.locator("#rtmp-destinations li")
        expect(saved).to_have_count(1)
        expect(saved.locator(".url")).to_have_text("rtmp://live.twitch.tv/app")
        expect(page.get_by_label("Stream key")).to_have_value("")
        assert key not in page.content()
        page.reload()
        expect(saved).to_have_count(1)
        assert key not in page.content()
        listed = [d for d in api.ok("GET", "/api/destinations")["items"] if d["type"] == "rtmp"]
        assert [d["name"] for d in listed] == ["Twitch"]
        assert key not in str(listed)

        # Delete asks first; Cancel (or Escape) keeps it.
        page.get_by_role("button", name="Delete Twitch").click()
        expect(page.get_by_role("button", name="Cancel")).to_be_focused()
        page.keyboard.press("Escape")
        expect(page.get_by_role("button", name="Delete Twitch")).to_be_focused()
        expect(saved).to_have_count(1)
        page.get_by_role("button", name="Delete Twitch").click()
        page.get_by_role("button", name="Yes, delete").click()
        expect(page.locator("#message")).to_have_text("Destination “Twitch” is deleted.")
        expect(saved).to_have_count(0)
        expect(page.locator("#rtmp-empty")).to_be_visible()
        assert [d for d in api.ok("GET", "/api/destinations")["items"] if d["type"] == "rtmp"] == []
        # The refused address is the one 422 the browser reports.
        assert problems == [
            "console error: Failed to load resource: the server responded with a status of 422 "
            "(UNPROCESSABLE ENTITY)"
        ], problems
    finally:
        context.close()


def test_sign_out_everywhere_ends_the_other_devices_session_too(
    browser: Any, local_mode: LocalModeProcess, runtime_config: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    erin = sign_up_and_in(local_mode, runtime_config, f"erin-{secrets.token_hex(4)}@example.com")
    laptop, phone = browser.new_context(), browser.new_context()
    try:
        on_phone = phone.new_page()
        sign_in(on_phone, local_mode, erin)
        phone_refresh_token = on_phone.evaluate(
            "Object.entries(sessionStorage).find(([k]) => k.endsWith('.refreshToken'))[1]"
        )
        on_laptop = laptop.new_page()
        sign_in(on_laptop, local_mode, erin, "#/account")
        on_laptop.get_by_role("button", name="Sign out everywhere").click()
        expect(on_laptop.locator("#auth")).to_be_visible()
        expect(on_laptop.locator("#message")).to_have_text("You are signed out on every device.")
        assert on_laptop.evaluate("Object.keys(sessionStorage).length") == 0

        cognito = cognito_client(local_mode, runtime_config["region"])
        with pytest.raises(cognito.exceptions.NotAuthorizedException):
            cognito.initiate_auth(
                ClientId=runtime_config["userPoolClientId"],
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": phone_refresh_token},
            )
    finally:
        laptop.close()
        phone.close()


ID_TOKEN = "Object.entries(sessionStorage).find(([k]) => k.endsWith('.idToken'))[1]"


def test_a_session_past_its_tokens_hour_is_refreshed_silently(
    browser: Any, local_mode: LocalModeProcess, dora: User
) -> None:
    """Cognito's tokens last an hour; a page left open longer asks for new ones with its refresh token and
    goes on, with no sign-in form and no message."""
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        page.clock.install()  # the page's own clock, moved on below; the servers keep theirs
        sign_in(page, local_mode, dora, "#/account")
        expect(page.locator("#account-email")).to_have_text(dora.email)
        first_token = page.evaluate(ID_TOKEN)

        page.clock.fast_forward("02:00:00")
        page.get_by_role("link", name="Library", exact=True).click()
        page.get_by_role("link", name="Account", exact=True).click()
        expect(page.locator("#account-email")).to_have_text(dora.email)
        assert page.evaluate(ID_TOKEN) != first_token  # the request went with a new token, and was answered
        expect(page.locator("#auth")).to_have_count(0)
        expect(page.locator("#message")).to_have_text("")
        assert problems == [], problems
    finally:
        context.close()


def test_every_screen_fits_a_phone_without_a_sideways_scroll(
    browser: Any, local_mode: LocalModeProcess, dora: User
) -> None:
    from playwright.sync_api import expect

    context = new_context(browser, "phone")
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        page.goto(local_mode.url + "/")
        expect(page.locator("#auth")).to_be_visible()
        fits(page)
        sign_in(page, local_mode, dora)
        for _, route, heading in SCREENS:
            page.goto(f"{local_mode.url}/{route}")
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
            page.wait_for_load_state("networkidle")
            fits(page)
        assert problems == [], problems
    finally:
        context.close()
