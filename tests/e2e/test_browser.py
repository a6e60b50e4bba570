"""The web app in a real browser (Debian's chromium driven by Playwright): sign up, sign in (tokens in the
tab's sessionStorage only), move between screens by keyboard, see the account's figures from /api/me, add
and delete an RTMP destination whose key is never shown again, sign out and sign out everywhere, all at
phone width too; and a multipart upload from the app's page as Uppy's @uppy/aws-s3 sends one, straight to
local mode's S3, then the thumbnail the media job made."""

from __future__ import annotations

import hashlib
import secrets
import struct
from pathlib import Path
from typing import Any

from tests.e2e.conftest import (
    PASSWORD,
    ApiClient,
    LocalModeProcess,
    User,
    make_clip,
    wait_for_media,
)


def _format_bytes(size: int) -> str:
    """What web/src/format.ts shows."""
    value, unit = float(size), 0
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    digits = 0 if unit == 0 or value >= 100 else 1
    return f"{value:.{digits}f} {units[unit]}"


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
        expect(page.get_by_role("heading", name="Library", level=1)).to_be_focused()
        # The tokens stay in this tab: sessionStorage, never localStorage.
        stored = page.evaluate("[Object.keys(sessionStorage), localStorage.length]")
        assert any(key.endswith(".refreshToken") for key in stored[0]), stored
        assert stored[1] == 0, stored

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
        expect(page.locator("#account")).to_be_visible()
        expect(page.get_by_role("heading", name="Your account")).to_be_focused()
        assert page.evaluate("location.hash") == "#/account"
        expect(page.locator("#account-email")).to_have_text(email)
        expect(page.locator("#storage-used")).to_have_attribute("data-bytes", "0")
        expect(page.locator("#storage-used")).to_have_text("0 B")
        quota = int(page.locator("#storage-quota").get_attribute("data-bytes") or "0")
        assert quota > 0
        expect(page.locator("#storage-quota")).to_have_text(_format_bytes(quota))
        expect(page.locator("#active-streams")).to_have_text("0")

        page.reload()  # the session survives a reload
        expect(page.locator("#account-email")).to_have_text(email)

        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(page.locator("#auth")).to_be_visible()
        expect(page.locator("#account")).to_be_hidden()
        page.reload()  # ... and sign-out forgets it
        expect(page.locator("#auth")).to_be_visible()
        assert page.evaluate("Object.keys(sessionStorage).length + localStorage.length") == 0
        assert problems == [], problems
    finally:
        context.close()


MIB = 1024**2
# What @uppy/aws-s3 does with each presigned part: PUT the File's slice (typed as the file) to the part's
# URL, from the app's origin, so the browser sends a CORS preflight first (a PUT, a non-form type), and
# read the part's ETag from the answer (which the bucket's CORS rule must expose). The first part goes by
# fetch, the others by XMLHttpRequest (Uppy's own, for progress events). Then complete through the API.
UPLOAD_AS_UPPY_DOES = """
async ({token}) => {
  const file = document.getElementById("picker").files[0];
  const api = async (path, body) => {
    const response = await fetch(path, {
      method: "POST",
      headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"},
      body: JSON.stringify(body),
    });
    return {status: response.status, body: await response.json()};
  };
  const viaFetch = async (url, blob) => {
    const response = await fetch(url, {method: "PUT", body: blob});
    return {status: response.status, etag: response.headers.get("ETag")};
  };
  const viaXhr = (url, blob) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.onload = () => resolve({status: xhr.status, etag: xhr.getResponseHeader("ETag")});
    xhr.onerror = () => reject(new Error("the part PUT failed (network or CORS)"));
    xhr.send(blob);
  });
  const created = await api("/api/media", {
    filename: file.name, size_bytes: file.size, content_type: file.type,
  });
  const {upload} = created.body;
  const parts = [];
  for (const part of upload.parts) {
    const start = (part.part_number - 1) * upload.part_size;
    const blob = file.slice(start, Math.min(start + upload.part_size, file.size), file.type);
    const sent = await (part.part_number === 1 ? viaFetch : viaXhr)(part.url, blob);
    parts.push({part_number: part.part_number, type: blob.type, size: blob.size, ...sent});
  }
  const completed = await api(`/api/media/${created.body.media_id}/complete`, {
    parts: parts.map(({part_number, etag}) => ({part_number, etag})),
  });
  return {
    media_id: created.body.media_id,
    part_size: upload.part_size,
    parts,
    completed: [completed.status, completed.body.status],
  };
}
"""
SHOW_THUMBNAIL = """
(url) => new Promise((resolve, reject) => {
  const img = document.createElement("img");
  img.id = "thumbnail";
  img.alt = "thumbnail";
  img.onload = () => resolve(img.naturalWidth);
  img.onerror = () => reject(new Error("the thumbnail did not load"));
  img.src = url;
  document.body.append(img);
})
"""
# A CORS read of the URL, past the browser's cache: the <img> cached its answer, which S3 sends without CORS
# headers to a request without an Origin, and a CORS read of that cached answer would be refused.
READ_CROSS_ORIGIN = """
async (url) => {
  try {
    const response = await fetch(url, {cache: "no-store"});
    return `read: ${response.status}`;
  } catch (error) {
    return `refused: ${error.name}`;
  }
}
"""


def _clip_of_two_parts(path: Path, part_size: int) -> Path:
    """A small stream-ready clip made by ffmpeg, padded past one part with an MP4 `free` box (which players
    skip), so that the browser sends two parts and the media job has nothing to conform."""
    make_clip(path, 2, size="320x180", video_kbps=300)
    padding = part_size + MIB - path.stat().st_size
    with path.open("ab") as clip:
        clip.write(struct.pack(">I4s", padding + 8, b"free") + bytes(padding))
    return path


def test_a_multipart_upload_as_uppy_sends_it_then_its_thumbnail(
    browser: Any, local_mode: LocalModeProcess, alice: User, alice_api: ApiClient, tmp_path: Path
) -> None:
    part_size = 16 * MIB  # the API's (playout.settings upload_part_size_bytes)
    video = _clip_of_two_parts(tmp_path / "holiday.mp4", part_size)
    data = video.read_bytes()
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    try:
        page.goto(local_mode.url + "/")  # the app's origin, under its CSP
        page.evaluate("document.body.insertAdjacentHTML('beforeend', '<input type=file id=picker>')")
        page.set_input_files("#picker", str(video))

        sent = page.evaluate(UPLOAD_AS_UPPY_DOES, {"token": alice.id_token})

        assert sent["part_size"] == part_size
        slices = [data[start : start + part_size] for start in range(0, len(data), part_size)]
        assert [(p["status"], p["type"], p["size"]) for p in sent["parts"]] == [
            (200, "video/mp4", len(piece)) for piece in slices
        ]
        # the ETag the page could read is the part's MD5, as S3's
        assert [p["etag"] for p in sent["parts"]] == [
            f'"{hashlib.md5(piece, usedforsecurity=False).hexdigest()}"' for piece in slices
        ]
        assert sent["completed"] == [200, "probing"]
        media = wait_for_media(alice_api, sent["media_id"])
        assert (media["status"], media["size_bytes"], media["stream_ready"]) == ("ready", len(data), True)

        width = page.evaluate(SHOW_THUMBNAIL, media["thumbnail_url"])
        assert width > 0
        assert page.evaluate(READ_CROSS_ORIGIN, media["thumbnail_url"]) == "read: 200"
        assert problems == [], problems

        # The bucket's CORS rule names the app's origin alone: another origin's page may show the picture
        # but not read it, as with S3.
        other = context.new_page()
        other.goto(local_mode.url.replace("127.0.0.1", "localhost") + "/")
        assert other.evaluate(READ_CROSS_ORIGIN, media["thumbnail_url"]) == "refused: TypeError"
    finally:
        context.close()
