"""What the app's browser tests share: signing in through the page, the page's own errors, axe-core's serious
findings, and where screenshots go."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, REPO_ROOT, LocalModeProcess, User

AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"


def watch_for_problems(page: Any, *, console: bool = True) -> list[str]:
    """The page's uncaught errors (and the console's, unless a test provokes refusals the browser logs)."""
    problems: list[str] = []
    if console:
        page.on(
            "console",
            lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def sign_in(page: Any, local_mode: LocalModeProcess, user: User, route: str = "") -> None:
    """Through the sign-in form, as a person does, landing on `route` (a `#/...` address)."""
    from playwright.sync_api import expect

    page.goto(f"{local_mode.url}/{route}")
    page.locator("#signin-email").fill(user.email)
    page.locator("#signin-password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def require_axe() -> None:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing (npm --prefix web ci)", pytrace=False)


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it stands."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps([n['target'] for n in v['nodes']])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
