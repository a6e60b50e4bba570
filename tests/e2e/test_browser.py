"""The web app in a real browser (Debian's chromium driven by Playwright): sign up, sign in, see the
account's figures from /api/me, sign out."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import CHROMIUM, PASSWORD, LocalModeProcess

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _format_bytes(size: int) -> str:
    """What web/src/format.js shows."""
    value, unit = float(size), 0
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    digits = 0 if unit == 0 or value >= 100 else 1
    return f"{value:.{digits}f} {units[unit]}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_sign_up_sign_in_and_out(browser: Any, local_mode: LocalModeProcess) -> None:
    from playwright.sync_api import expect

    email = f"carol-{secrets.token_hex(4)}@example.com"
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    try:
        page.goto(local_mode.url + "/")
        expect(page.locator("#auth")).to_be_visible()

        page.get_by_label("Email").nth(1).fill(email)  # the sign-up form's
        page.locator("#signup-password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.locator("#message")).to_contain_text("Account created")
        expect(page.locator("#signin-email")).to_have_value(email)

        page.locator("#signin-password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#account")).to_be_visible()
        expect(page.locator("#account-email")).to_have_text(email)
        expect(page.locator("#storage-used")).to_have_attribute("data-bytes", "0")
        expect(page.locator("#storage-used")).to_have_text("0 B")
        quota = int(page.locator("#storage-quota").get_attribute("data-bytes") or "0")
        assert quota > 0
        expect(page.locator("#storage-quota")).to_have_text(_format_bytes(quota))
        expect(page.locator("#active-streams")).to_have_text("0")

        page.reload()  # the session survives a reload
        expect(page.locator("#account-email")).to_have_text(email)

        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#auth")).to_be_visible()
        expect(page.locator("#account")).to_be_hidden()
        page.reload()  # ... and sign-out forgets it
        expect(page.locator("#auth")).to_be_visible()
        assert problems == [], problems
    finally:
        context.close()
