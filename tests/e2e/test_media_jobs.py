"""The media job in local mode, for real: an upload that cannot stream as it is goes probing → conforming →
ready and then streams; a file that is not media fails with its reason and leaves the quota; a link imports
from a local HTTP server (local mode admits loopback imports) and ends ready."""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from local.processes import launched_pids
from tests.e2e import media_files
from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    RtmpSink,
    User,
    make_clip,
    new_stream_key,
    sign_up_and_in,
    upload_only,
    wait_for_media,
    wait_for_status,
)
from tests.integration.file_server import ServedFile, serve_files
from tests.media_probe import probe

VP9_SECONDS = 4


@pytest.fixture(scope="module")
def carol_api(
    local_mode: LocalModeProcess,
    runtime_config: dict[str, str],
    make_client: Callable[[User | None], ApiClient],
) -> ApiClient:
    """A user of these tests only: the shared users' storage stays what their own tests count."""
    return make_client(
        sign_up_and_in(local_mode, runtime_config, f"carol-{secrets.token_hex(4)}@example.com")
    )


def _storage_used(api: ApiClient) -> int:
    return int(api.ok("GET", "/api/me")["storage_used_bytes"])


def test_a_vp9_upload_is_conformed_with_a_thumbnail_and_then_streams(
    carol_api: ApiClient,
    local_mode: LocalModeProcess,
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    tmp_path: Path,
) -> None:
    source = media_files.vp9_webm(tmp_path / "sunset.webm", VP9_SECONDS)
    used_before = _storage_used(carol_api)
    completed = upload_only(carol_api, source, local_mode.url, content_type="video/webm")
    seen = [completed["status"]]

    media = wait_for_media(carol_api, completed["media_id"], seen=seen)

    assert seen == ["probing", "conforming", "ready"], (seen, media["error"])
    assert (media["stream_ready"], media["video"]["codec"], media["audio"]["codec"]) == (False, "vp9", "opus")
    # What plays: the conformed copy, its sound (0.4 s longer in the original) cut to its picture.
    assert media["duration_s"] == pytest.approx(VP9_SECONDS, abs=0.05)
    assert _storage_used(carol_api) - used_before == media["stored_bytes"]
    thumbnail = requests.get(media["thumbnail_url"], timeout=10)
    assert (thumbnail.status_code, thumbnail.headers["Content-Type"]) == (200, "image/webp")
    assert thumbnail.content[:4] == b"RIFF"
    assert thumbnail.content[8:12] == b"WEBP"
    assert "immutable" in thumbnail.headers.get("Cache-Control", "")
    assert carol_api.ok("GET", f"/api/media/{media['media_id']}")["thumbnail_url"] == media["thumbnail_url"]

    key = new_stream_key(stream_keys)
    destination = carol_api.ok(
        "POST",
        "/api/destinations",
        {"type": "rtmp", "name": "vp9 sink", "url": rtmp_sink.url, "stream_key": key},
        201,
    )
    stream = carol_api.ok(
        "POST",
        "/api/streams",
        {
            "title": "conformed",
            "media_ids": [media["media_id"]],
            "destination_ids": [destination["destination_id"]],
        },
        201,
    )
    assert carol_api.post(f"/api/streams/{stream['stream_id']}/start").status_code == 202
    ended, _ = wait_for_status(carol_api, stream["stream_id"], {"ended"}, VP9_SECONDS + 60, interval_s=0.5)
    assert ended["error"] in (None, "")
    recording = rtmp_sink.recording(key)
    deadline = time.monotonic() + 10
    while not recording.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    codecs = {s["codec_type"]: s["codec_name"] for s in probe(recording)["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}, codecs


def test_a_renamed_pdf_fails_with_its_reason_and_leaves_the_quota(
    carol_api: ApiClient, local_mode: LocalModeProcess, tmp_path: Path
) -> None:
    pdf = media_files.renamed_pdf(tmp_path / "holiday.mp4")
    used_before = _storage_used(carol_api)

    media = wait_for_media(carol_api, upload_only(carol_api, pdf, local_mode.url)["media_id"])

    assert media["status"] == "failed"
    assert media["error"] == "This is a PDF document, not a video or audio file."
    assert (media["stored_bytes"], media["thumbnail_url"]) == (0, None)
    assert _storage_used(carol_api) == used_before


def test_an_import_from_a_link_ends_ready(carol_api: ApiClient, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "talk.mp4", 3, size="320x240")
    with serve_files() as server:
        server.files["/videos/talk.mp4"] = ServedFile(clip.read_bytes())
        created: dict[str, Any] = carol_api.ok(
            "POST", "/api/media/imports", {"url": server.url("/videos/talk.mp4")}, 202
        )
        assert (created["status"], created["filename"]) == ("importing", "talk.mp4")

        media = wait_for_media(carol_api, created["media_id"])

    assert media["status"] == "ready", media
    assert (media["size_bytes"], media["video"]["codec"]) == (clip.stat().st_size, "h264")
    assert media["thumbnail_url"]


def _media_job_pids(media_id: str) -> list[int]:
    return launched_pids("stream_task.media_job", "MEDIA_ID", media_id)


def test_a_job_killed_while_conforming_is_retried_and_counts_its_bytes_once(
    carol_api: ApiClient, local_mode: LocalModeProcess, tmp_path: Path
) -> None:
    # A conform long enough to be killed in.
    source = media_files.vp9_webm(tmp_path / "killed.webm", seconds=30)
    used_before = _storage_used(carol_api)
    media_id = upload_only(carol_api, source, local_mode.url, content_type="video/webm")["media_id"]
    deadline = time.monotonic() + 60
    while carol_api.ok("GET", f"/api/media/{media_id}")["status"] != "conforming":
        assert time.monotonic() < deadline, "never conforming"
        time.sleep(0.1)
    pids = _media_job_pids(media_id)
    assert pids, "the job ended before it could be killed"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)  # as an out-of-memory kill: exit 137, a crash the workflow retries

    media = wait_for_media(carol_api, media_id)

    assert media["status"] == "ready", media
    assert _storage_used(carol_api) - used_before == media["stored_bytes"]
    deadline = time.monotonic() + 10  # the job's exit is logged just after its ready write
    while (exits := _job_exits(local_mode, media_id)) != [137, 0] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert exits == [137, 0], exits


def _job_exits(local_mode: LocalModeProcess, media_id: str) -> list[int]:
    return [
        json.loads(line)["exit_code"]
        for line in local_mode.log_file.read_text().splitlines()
        if '"job_id"' in line and media_id in line and '"task exited"' in line
    ]
