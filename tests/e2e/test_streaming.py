"""A real run: upload a clip, stream it to an RTMP ingest, stop a looping stream, and keep users apart.

The tests share one local mode and one ingest; their order is the story (the leak check comes last).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    CLIP_SECONDS,
    ApiClient,
    LocalModeProcess,
    ResponseLog,
    RtmpSink,
    all_media,
    new_stream_key,
    record_figure,
    stream_task_pids,
    wait_for_status,
)
from tests.media_probe import probe

START_TO_LIVE_TIMEOUT_S = 30
STOP_TO_ENDED_LIMIT_S = 5.0


def _create_destination(api: ApiClient, sink: RtmpSink, key: str, name: str) -> dict[str, Any]:
    destination = api.ok(
        "POST", "/api/destinations", {"type": "rtmp", "name": name, "url": sink.url, "stream_key": key}, 201
    )
    assert "stream_key" not in destination
    return dict(destination)


def _create_stream(
    api: ApiClient, title: str, media_id: str, destination_id: str, loop: bool
) -> dict[str, Any]:
    body = {"title": title, "media_ids": [media_id], "destination_ids": [destination_id], "loop": loop}
    stream = api.ok("POST", "/api/streams", body, 201)
    assert stream["status"] == "draft"
    return dict(stream)


def _new_stream(
    api: ApiClient, sink: RtmpSink, stream_keys: list[str], media_id: str, title: str, loop: bool
) -> tuple[str, str]:
    """A draft stream of one media to a new destination on the sink: (stream_id, its stream key)."""
    key = new_stream_key(stream_keys)
    destination = _create_destination(api, sink, key, f"{title} sink")
    return _create_stream(api, title, media_id, destination["destination_id"], loop)["stream_id"], key


def _start_until_live(api: ApiClient, stream_id: str) -> float:
    """Starts the stream and waits for `live`; returns the seconds that took."""
    started = time.monotonic()
    assert api.post(f"/api/streams/{stream_id}/start").status_code == 202
    _, live_at = wait_for_status(api, stream_id, {"live"}, START_TO_LIVE_TIMEOUT_S)
    return live_at - started


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def _pushers_to(sink: RtmpSink) -> list[str]:
    """The ffmpeg processes sending to the sink: their command line ends with its address (scheme, host,
    port), the application and stream key going through a pipe (`-fpre`), never the command line."""
    address = sink.url.rsplit("/", 1)[0].encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if argv[-2:] == [address, b""] and b"-fpre" in argv:
            found.append(entry.name)
    return found


def test_uploaded_clip_is_ready(alice_media: dict[str, Any], clip: Path) -> None:
    assert alice_media["status"] == "ready"
    assert alice_media["size_bytes"] == clip.stat().st_size


def test_me_counts_the_upload(alice_api: ApiClient, alice_media: dict[str, Any]) -> None:
    me = alice_api.ok("GET", "/api/me")
    library = all_media(alice_api)  # the other tests of this worker's session may have uploaded as alice too
    assert alice_media["media_id"] in [m["media_id"] for m in library]
    assert alice_media["stored_bytes"] > 0  # the playable file and its thumbnail
    assert me["storage_used_bytes"] == sum(m["stored_bytes"] for m in library)
    assert me["email"].startswith("alice-")


def test_stream_plays_the_clip_to_the_ingest(
    alice_api: ApiClient,
    alice_media: dict[str, Any],
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    figures: dict[str, Any],
) -> None:
    stream_id, key = _new_stream(
        alice_api, rtmp_sink, stream_keys, alice_media["media_id"], "e2e once", False
    )
    record_figure(figures, "start_to_live_s", _start_until_live(alice_api, stream_id))

    ended, _ = wait_for_status(alice_api, stream_id, {"ended"}, CLIP_SECONDS + 40, interval_s=0.5)
    assert ended["error"] in (None, "")

    recording = rtmp_sink.recording(key)
    deadline = time.monotonic() + 10
    while not recording.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    info = probe(recording)
    codecs = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}, codecs
    duration = float(info["format"]["duration"])
    record_figure(figures, "recording_duration_s", duration)
    assert abs(duration - CLIP_SECONDS) <= 1.0, f"recorded {duration:.2f} s of a {CLIP_SECONDS} s clip"

    kinds = [e["type"] for e in alice_api.ok("GET", f"/api/streams/{stream_id}/events")["items"]]
    assert {"starting", "live", "ended"} <= set(kinds), kinds


def test_looping_stream_stops_promptly(
    alice_api: ApiClient,
    alice_media: dict[str, Any],
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    figures: dict[str, Any],
) -> None:
    stream_id, key = _new_stream(alice_api, rtmp_sink, stream_keys, alice_media["media_id"], "e2e loop", True)
    _start_until_live(alice_api, stream_id)
    time.sleep(3)  # on air for a moment: ffmpeg is pushing
    assert _pushers_to(rtmp_sink), "the looping stream's ffmpeg should be running"
    assert not _processes_mentioning(key), "no command line may show the stream key"

    stop_called = time.monotonic()
    assert alice_api.post(f"/api/streams/{stream_id}/stop").status_code == 202
    _, ended_at = wait_for_status(alice_api, stream_id, {"ended"}, STOP_TO_ENDED_LIMIT_S + 10, interval_s=0.1)
    stop_to_ended = ended_at - stop_called
    record_figure(figures, "stop_to_ended_s", stop_to_ended)
    assert stop_to_ended <= STOP_TO_ENDED_LIMIT_S

    deadline = time.monotonic() + 5
    while _pushers_to(rtmp_sink) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pushers_to(rtmp_sink), "no process may keep pushing to the ingest after the stop"
    # stopping an ended stream is idempotent
    assert alice_api.post(f"/api/streams/{stream_id}/stop").status_code == 202


def _event_types(api: ApiClient, stream_id: str) -> list[str]:
    """The stream's timeline, oldest first."""
    return [
        e["type"] for e in reversed(api.ok("GET", f"/api/streams/{stream_id}/events", status=200)["items"])
    ]


def test_a_stopped_container_is_replaced_and_the_stream_resumes(
    alice_api: ApiClient,
    alice_media: dict[str, Any],
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    figures: dict[str, Any],
) -> None:
    """SIGTERM to the task, as when Fargate reclaims a Spot task: the workflow's retry starts another task,
    which resumes the same run; the stream stays live and a stop still ends it."""
    stream_id, key = _new_stream(alice_api, rtmp_sink, stream_keys, alice_media["media_id"], "e2e spot", True)
    _start_until_live(alice_api, stream_id)
    time.sleep(3)  # play a few seconds, so there is a position to resume from
    [first_task] = stream_task_pids(stream_id)

    interrupted = time.monotonic()
    os.kill(first_task, signal.SIGTERM)
    deadline = interrupted + START_TO_LIVE_TIMEOUT_S
    while "restarted" not in _event_types(alice_api, stream_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    record_figure(figures, "interrupt_to_resumed_s", time.monotonic() - interrupted)
    kinds = _event_types(alice_api, stream_id)
    assert kinds[-2:] == ["interrupted", "restarted"], kinds
    stream = alice_api.ok("GET", f"/api/streams/{stream_id}")
    assert stream["status"] == "live"
    [second_task] = stream_task_pids(stream_id)
    assert second_task != first_task
    assert _pushers_to(rtmp_sink), "the new task's ffmpeg should be pushing to the ingest"
    assert not _processes_mentioning(key), "no command line may show the stream key"

    assert alice_api.post(f"/api/streams/{stream_id}/stop").status_code == 202
    wait_for_status(alice_api, stream_id, {"ended"}, STOP_TO_ENDED_LIMIT_S + 10, interval_s=0.1)
    assert _event_types(alice_api, stream_id)[-1] == "ended"


def test_other_users_get_404_on_every_verb(
    alice_api: ApiClient,
    bob_api: ApiClient,
    alice_media: dict[str, Any],
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
) -> None:
    destination = _create_destination(alice_api, rtmp_sink, new_stream_key(stream_keys), "private sink")
    stream = _create_stream(
        alice_api, "private", alice_media["media_id"], destination["destination_id"], False
    )
    media_id, destination_id, stream_id = (
        alice_media["media_id"],
        destination["destination_id"],
        stream["stream_id"],
    )
    attempts = [
        ("GET", f"/api/media/{media_id}", None),
        ("DELETE", f"/api/media/{media_id}", None),
        ("POST", f"/api/media/{media_id}/complete", {"parts": [{"part_number": 1, "etag": '"x"'}]}),
        ("GET", f"/api/destinations/{destination_id}", None),
        ("DELETE", f"/api/destinations/{destination_id}", None),
        ("GET", f"/api/streams/{stream_id}", None),
        ("DELETE", f"/api/streams/{stream_id}", None),
        ("POST", f"/api/streams/{stream_id}/start", {}),
        ("POST", f"/api/streams/{stream_id}/stop", {}),
        ("GET", f"/api/streams/{stream_id}/events", None),
    ]
    for method, path, body in attempts:
        response = bob_api.request(method, path, body)
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "not_found"

    # Ids named in a body are a field like any other (422): Alice's answer word for word as ids never made.
    made_up = "med_" + "0" * 28
    answers = {
        name: bob_api.post(
            "/api/streams", {"title": "theft", "media_ids": [media], "destination_ids": [destination_id]}
        )
        for name, media in (("hers", media_id), ("made up", made_up))
    }
    assert {name: a.status_code for name, a in answers.items()} == {"hers": 422, "made up": 422}
    assert answers["hers"].json() == {
        "error": {**answers["made up"].json()["error"], "message": f"media {media_id} not found"}
    }, answers["hers"].text
    assert answers["made up"].json()["error"]["message"] == f"media {made_up} not found"

    # ... and nothing of Alice's was touched; Bob's lists are empty.
    assert alice_api.ok("GET", f"/api/media/{media_id}")["status"] == "ready"
    assert alice_api.ok("GET", f"/api/destinations/{destination_id}")["destination_id"] == destination_id
    assert alice_api.ok("GET", f"/api/streams/{stream_id}")["status"] == "draft"
    for listing in ("/api/media", "/api/destinations", "/api/streams"):
        assert bob_api.ok("GET", listing)["items"] == []


def test_unauthenticated_calls_are_refused(alice_api: ApiClient, local_mode: LocalModeProcess) -> None:
    import requests

    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic abc"}):
        response = requests.get(f"{local_mode.url}/api/me", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized"}  # API Gateway's own answer
    assert requests.get(f"{local_mode.url}/api/health", timeout=10).json() == {"status": "ok"}


def test_stream_keys_never_leak(
    stream_keys: list[str], response_log: ResponseLog, local_mode: LocalModeProcess
) -> None:
    if not stream_keys:
        pytest.skip("no stream ran in this session")
    log_lines = local_mode.log_file.read_text(errors="replace").splitlines()
    assert len(log_lines) > 10, "local mode should have logged the run"
    assert len(response_log.entries) > 10
    for key in stream_keys:
        assert response_log.containing(key) == [], f"stream key {key} came back in API responses"
        leaking = [line[:200] for line in log_lines if key in line]
        assert leaking == [], f"stream key {key} appears in the local mode log: {leaking[:3]}"
