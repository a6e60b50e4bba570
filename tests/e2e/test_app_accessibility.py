"""An axe-core pass (web/node_modules/axe-core, a dev dependency of the app) on every screen of the app, at
desktop and phone width: no serious or critical violation."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.e2e.app_pages import VIEWPORTS, require_axe, serious_violations
from tests.e2e.conftest import PASSWORD, LocalModeProcess, sign_up_and_in

ROUTES = ["#/library", "#/playlists", "#/destinations", "#/streams", "#/streams/str_0123", "#/account"]


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_every_screen_has_no_serious_accessibility_violation(
    browser: Any, local_mode: LocalModeProcess, runtime_config: dict[str, str], viewport: str
) -> None:
    from playwright.sync_api import expect

    require_axe()
    user = sign_up_and_in(local_mode, runtime_config, f"ally-{secrets.token_hex(4)}@example.com")
    # The app's CSP allows its own scripts only; axe is injected by the test.
    context = browser.new_context(viewport=VIEWPORTS[viewport], bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(local_mode.url + "/")
        expect(page.locator("#auth")).to_be_visible()
        problems = {"auth": serious_violations(page)}
        page.locator("#signin-email").fill(user.email)
        page.locator("#signin-password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        for route in ROUTES:
            page.goto(f"{local_mode.url}/{route}")
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            page.wait_for_load_state("networkidle")
            problems[route] = serious_violations(page)
        assert {screen: found for screen, found in problems.items() if found} == {}
    finally:
        context.close()
