"""What the app's browser tests share: signing in through the page, the page's own errors, axe-core's serious
findings, screenshots, acting as a person does at a width (by touch on a phone), a creator with ready videos
and a destination at the test nginx-rtmp, the stream form, and the sparklines' readings."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import (
    PASSWORD,
    REPO_ROOT,
    ApiClient,
    LocalModeProcess,
    User,
    make_clip,
    new_stream_key,
    sign_up_and_in,
    upload_media,
)

AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
ZONE = "America/New_York"  # not this machine's (UTC): the page must use the browser's
START_TO_LIVE_TIMEOUT_MS = 60_000
STOP_TO_ENDED_TIMEOUT_MS = 40_000
MEDIA_JOB_TIMEOUT_MS = 180_000


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


def new_context(browser: Any, viewport: str = "desktop", **options: Any) -> Any:
    """A browser profile at `viewport`'s width (a phone's: touch, mobile) in ZONE; axe is injected by the
    tests (the app's CSP allows its own scripts only)."""
    phone = viewport == "phone"
    return browser.new_context(
        viewport=VIEWPORTS[viewport],
        is_mobile=phone,
        has_touch=phone,
        timezone_id=ZONE,
        locale="en-US",
        bypass_csp=True,
        **options,
    )


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


def screenshot(page: Any, screen: str, viewport: str) -> Path:
    """The whole page kept as build/screenshots/<screen>-<viewport>.png, for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{screen}-{viewport}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fits(page: Any) -> None:
    """Nothing wider than the screen: no sideways scroll."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], (
        f"the page is {width} px wide at {page.evaluate('location.hash')}"
    )


# Every pointer that goes down on the page, by kind ("touch", "mouse"): proof of how a control was used.
KEEP_POINTERS = """
if (!window.playoutPointers) {
  window.playoutPointers = [];
  document.addEventListener("pointerdown", (event) => window.playoutPointers.push(event.pointerType), true);
}
"""


@dataclass
class Hands:
    """A person at the page's width: taps on a phone, clicks on a desktop, and only what lies within the
    screen's width (nothing found by a sideways scroll). Each action is checked to have reached the page as
    that kind of pointer."""

    page: Any
    touch: bool

    def __post_init__(self) -> None:
        self.page.add_init_script(KEEP_POINTERS)  # the documents to come
        self.page.evaluate(KEEP_POINTERS)  # the one open now

    @property
    def pointer(self) -> str:
        return "touch" if self.touch else "mouse"

    def press(self, target: Any) -> None:
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        width = self.page.viewport_size["width"]
        assert box is not None, f"{target} is not on the page"
        assert box["x"] >= 0, f"{target} lies left of the screen: {box}"
        assert box["x"] + box["width"] <= width + 0.5, f"{target} lies past {width} px: {box}"
        before = self.page.evaluate("window.playoutPointers.length")
        if self.touch:
            target.tap()
        else:
            target.click()
        # The press may have navigated within the app (a hash), never reloaded it: the record is still there.
        kinds = self.page.evaluate(f"window.playoutPointers.slice({before})")
        assert kinds, f"no pointer reached {target}"
        assert set(kinds) == {self.pointer}, f"{target} got {kinds}, not {self.pointer}"

    def tick(self, target: Any) -> None:
        """A checkbox or radio button on (by the same press)."""
        from playwright.sync_api import expect

        if not target.is_checked():
            self.press(target)
        expect(target).to_be_checked()

    def open_screen(self, label: str, heading: str) -> None:
        """Through the main nav, the focus then on the screen's heading."""
        from playwright.sync_api import expect

        self.press(self.page.get_by_role("navigation", name="Main").get_by_role("link", name=label))
        expect(self.page.get_by_role("heading", name=heading, level=1)).to_be_focused()


# --- a creator's things, made through the API (what a test is not about) ---


@dataclass(frozen=True)
class Creator:
    user: User
    api: ApiClient
    videos: dict[str, dict[str, Any]]  # ready, by file name


def creator_with_videos(
    local_mode: LocalModeProcess,
    runtime_config: dict[str, str],
    make_client: Callable[[User | None], ApiClient],
    folder: Path,
    name: str,
    clips: Mapping[str, tuple[float, int]],
) -> Creator:
    """A new user with a ready video per `clips` entry (file name: seconds, tone), uploaded as the browser
    does."""
    user = sign_up_and_in(local_mode, runtime_config, f"{name}-{secrets.token_hex(4)}@example.com")
    api = make_client(user)
    videos = {
        filename: ready_video(api, local_mode, folder / filename, seconds, tone)
        for filename, (seconds, tone) in clips.items()
    }
    return Creator(user, api, videos)


def ready_video(
    api: ApiClient, local_mode: LocalModeProcess, path: Path, seconds: float, tone: int
) -> dict[str, Any]:
    """A clip made at `path`, uploaded as the browser does, and ready."""
    media = upload_media(api, make_clip(path, seconds, tone_hz=tone), local_mode.url)
    assert media["status"] == "ready", media
    assert media["duration_s"], media
    return media


def small_clip(path: Path, seconds: float, tone_hz: int = 440) -> Path:
    """A short stream-ready clip at a small frame size: quick to upload, probe and play."""
    return make_clip(path, seconds, size="320x180", video_kbps=300, tone_hz=tone_hz)


def rtmp_destination(
    api: ApiClient, url: str, stream_keys: list[str], name: str = "Test sink"
) -> tuple[dict[str, Any], str]:
    """An RTMP destination at `url` (the test nginx-rtmp), and its stream key (its recording's name there)."""
    key = new_stream_key(stream_keys)
    destination = api.ok(
        "POST",
        "/api/destinations",
        {"type": "rtmp", "name": name, "url": url, "stream_key": key},
        201,
    )
    return dict(destination), key


def api_stream(
    api: ApiClient,
    title: str,
    media_ids: Iterable[str],
    destination_ids: Iterable[str],
    *,
    start: bool = False,
) -> dict[str, Any]:
    """A stream looping until stopped, made (and started) through the API."""
    body = {
        "title": title,
        "media_ids": list(media_ids),
        "destination_ids": list(destination_ids),
        "loop": True,
    }
    stream = dict(api.ok("POST", "/api/streams", body, 201))
    if start:
        api.ok("POST", f"/api/streams/{stream['stream_id']}/start", status=202)
    return stream


# --- the stream form and a stream's page ---


def local_input(at: datetime) -> str:
    """`at` as the form's date/time field takes it, in ZONE (the browser's)."""
    return at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


def fill_stream_form(
    page: Any,
    title: str,
    *,
    destination_ids: Iterable[str],
    media_ids: Iterable[str] = (),
    playlist_id: str | None = None,
    loop: bool = False,
    at: datetime | None = None,
    hands: Hands | None = None,
) -> None:
    """Fills the Streams screen's form: ready videos or a playlist, destinations, a loop, a time ahead in the
    browser's zone."""
    hands = hands or Hands(page, touch=False)
    page.get_by_label("Title").fill(title)
    if playlist_id:
        hands.tick(page.get_by_label("A playlist"))
        page.get_by_label("Playlist", exact=True).select_option(playlist_id)
    for media_id in media_ids:
        hands.tick(page.locator(f"#stream-media input[value='{media_id}']"))
    for destination_id in destination_ids:
        hands.tick(page.locator(f"#stream-destinations input[value='{destination_id}']"))
    if loop:
        hands.tick(page.get_by_label("Loop until I stop it (24/7)"))
    if at is not None:
        hands.tick(page.get_by_label("At a time I choose"))
        page.get_by_label(f"Start at ({ZONE} time)").fill(local_input(at))


def submit_stream_form(page: Any, title: str, *, scheduled: bool, hands: Hands | None = None) -> str:
    """Sends the form; returns the id of the stream whose page it opens."""
    from playwright.sync_api import expect

    hands = hands or Hands(page, touch=False)
    hands.press(page.get_by_role("button", name="Schedule stream" if scheduled else "Create stream"))
    expect(page.get_by_role("heading", name=title, level=1)).to_be_focused()
    stream_id = str(page.evaluate("location.hash")).removeprefix("#/streams/")
    assert stream_id.startswith("str_"), stream_id
    return stream_id


def make_stream(
    page: Any, title: str, *, at: datetime | None = None, hands: Hands | None = None, **what: Any
) -> str:
    """The form filled (fill_stream_form's `what`) and sent: the new stream's id."""
    fill_stream_form(page, title, at=at, hands=hands, **what)
    return submit_stream_form(page, title, scheduled=at is not None, hands=hands)


def points(page: Any, spark: str) -> int:
    return int(page.locator(f"#{spark} svg").get_attribute("data-points") or 0)


def wait_for_more_points(page: Any, spark: str, than: int, timeout_ms: float = 30_000) -> int:
    """Until the sparkline has drawn more readings than `than`; how many it has then."""
    page.wait_for_function(
        "([id, n]) => Number(document.querySelector(`#${id} svg`)?.dataset.points ?? 0) > n",
        arg=[spark, than],
        timeout=timeout_ms,
    )
    return points(page, spark)


def sparklines_gain_points(page: Any) -> None:
    """The bitrate and frame-rate sparklines gain a point with each reading (a heartbeat every 5 s) while the
    page is open, and say the latest."""
    from playwright.sync_api import expect

    first = wait_for_more_points(page, "spark-bitrate", 0)
    more = wait_for_more_points(page, "spark-bitrate", first)
    most = wait_for_more_points(page, "spark-bitrate", more)
    assert first < more < most, (first, more, most)
    assert wait_for_more_points(page, "spark-fps", 1) >= 2
    expect(page.locator("#spark-bitrate-value")).to_have_text(re.compile(r"^\d+ kbps$"))
