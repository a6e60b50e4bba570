"""The app's weight budget, measured from what the browser fetched: the JavaScript of a first load (a fresh
browser, nothing cached) is at most 150 KB gzipped.

Local mode's gateway serves web/dist uncompressed (werkzeug's send_from_directory; CloudFront compresses in
AWS), so transfer sizes here are identity-encoded. The test therefore gzips each script body the browser
received (Playwright's response bodies, level 9 as CloudFront's gzip at best and Vite's report) and sums
those; Performance resource timing cross-checks that those responses are every script the page loaded."""

from __future__ import annotations

import gzip
from typing import Any

from tests.e2e.conftest import LocalModeProcess, record_figure

FIRST_LOAD_JS_BUDGET_BYTES = 150 * 1024


def test_the_first_load_fetches_at_most_150_kb_of_javascript_gzipped(
    browser: Any, local_mode: LocalModeProcess, figures: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    scripts: dict[str, bytes] = {}

    def keep_script(response: Any) -> None:
        if response.request.resource_type == "script":
            assert "content-encoding" not in response.headers, "compressed now: sum the transfer sizes"
            scripts[response.url] = response.body()

    page.on("response", keep_script)
    try:
        page.goto(local_mode.url + "/")
        expect(page.locator("#auth")).to_be_visible()  # the app is up: every script of the first load ran
        page.wait_for_load_state("networkidle")
        timed = page.evaluate(
            """performance.getEntriesByType("resource")
                .filter((entry) => entry.initiatorType === "script" || /\\.m?js(\\?|$)/.test(entry.name))
                .map((entry) => [entry.name, entry.decodedBodySize])"""
        )
    finally:
        context.close()

    assert scripts, "the page fetched no script"
    assert dict(timed) == {url: len(body) for url, body in scripts.items()}, (timed, list(scripts))
    gzipped = sum(len(gzip.compress(body, compresslevel=9)) for body in scripts.values())
    record_figure(figures, "web_first_load_js_gzip_kb", gzipped / 1024)
    assert gzipped <= FIRST_LOAD_JS_BUDGET_BYTES, f"{gzipped / 1024:.1f} KB gzipped"
