"""A media library of awkward files, through local mode end to end (issue 6, point 6): the API, the media job
with real ffmpeg, and streams recorded by the nginx-rtmp sink.

- Uploads, as the browser sends them and all at once: a phone's portrait HEVC 10-bit with a rotation, VP9 in
  WebM, a variable frame rate, 44.1 kHz mono sound, an MP3 with cover art, an odd width (each becomes `ready`
  with its facts, a WebP thumbnail and the bytes it stores counted), two mp4s cut short and a PDF named .mp4
  (each ends `failed` with a reason in plain words and leaves nothing stored, nor counted), and an empty file
  (refused when its upload is created, as a bad input: 422).
- The six ready files play in two 3-item playlists, one pass each, at the same time; each recording has decode
  timestamps that never go back, no picture missing, no sound missing for more than one AAC frame, its items
  in order, and no timestamp warning from ffmpeg in the stream's task log.
- Imports from a link: a local server that hangs up half-way is resumed and the media ends ready; links to
  the cloud's metadata address or to a file on the server are refused at once (422), a redirect to a private
  address fails the import with its reason, and a link to this machine is refused (422) by a local mode that
  refuses loopback links as AWS does (LOCAL_ALLOW_LOOPBACK_IMPORTS=false).

Small files (4 s, at most 321x240; the MP3's cover is drawn at 1280x720), so the module runs in about two
minutes on two cores; its own xdist group gives it a worker (and a local mode) of its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import requests

from stream_task.probe import probe as stream_task_probe
from tests.e2e import media_files
from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    ResponseLog,
    RtmpSink,
    all_media,
    local_s3,
    make_clip,
    new_stream_key,
    record_figure,
    running_local_mode,
    sign_up_and_in,
    stored_copy,
    upload_only,
    wait_for_media,
    wait_for_status,
)
from tests.e2e.recording import (
    encoder_settings,
    gap_limits_ms,
    packets,
    seam_report,
    stream_log_lines,
    timestamp_warnings,
    timing_faults,
    wait_until_written,
)
from tests.integration.file_server import ServedFile, serve_files
from tests.media_probe import probe

pytestmark = pytest.mark.xdist_group("media-library")

SECONDS = 4.0
OVERHANG = media_files.SOUND_OVERHANG_S
WAIT_INTERVAL_S = 1.0  # eight media polled at once: slow enough to leave the two cores to their jobs
START_TO_LIVE_TIMEOUT_S = 60
END_MARGIN_S = 60


@dataclass(frozen=True)
class Playable:
    make: Callable[[Path], Path]
    content_type: str
    video: tuple[str, int, int] | None  # codec, width and height as shown (upright); None: sound only
    fps: float | None  # the source's constant rate; None when it varies (or has no picture)
    audio: tuple[str, int, int]  # codec, sample rate, channels


def _made(maker: Callable[..., Path], **kwargs: Any) -> Callable[[Path], Path]:
    return lambda path: maker(path, SECONDS, **kwargs)


PLAYABLE: dict[str, Playable] = {
    "portrait-hevc-10bit.mp4": Playable(
        _made(media_files.hevc_10bit_portrait), "video/mp4", ("hevc", 180, 320), 30, ("aac", 48000, 1)
    ),
    "sunset-vp9.webm": Playable(
        _made(media_files.vp9_webm), "video/webm", ("vp9", 320, 240), 25, ("opus", 48000, 1)
    ),
    "dusk-variable-rate.mp4": Playable(
        _made(media_files.variable_rate), "video/mp4", ("h264", 320, 240), None, ("aac", 48000, 1)
    ),
    "talk-44k-mono.mp4": Playable(
        _made(media_files.mono_44k), "video/mp4", ("h264", 320, 240), 30, ("aac", 44100, 1)
    ),
    "morning-song.mp3": Playable(
        _made(media_files.mp3_with_cover), "audio/mpeg", None, None, ("mp3", 44100, 1)
    ),
    "odd-width.mp4": Playable(
        _made(media_files.odd_width), "video/mp4", ("h264", 321, 240), 30, ("aac", 48000, 1)
    ),
}

# What the person who uploaded each broken file reads.
BROKEN: dict[str, tuple[Callable[[Path], Path], str]] = {
    "cut-short.mp4": (
        _made(media_files.truncated_mp4),
        "The file is incomplete: it ends before its index, so the upload or the export was cut short. "
        "Upload the complete file.",
    ),
    "cut-short-streamable.mp4": (
        _made(media_files.truncated_mp4, index_in_front=True),
        "The file is incomplete: its last part is missing, so the upload or the export was cut short. "
        "Upload the complete file.",
    ),
    "holiday.mp4": (media_files.renamed_pdf, "This is a PDF document, not a video or audio file."),
}
EMPTY = "empty.mp4"

# Words a reason must not show its reader: tools, their internals, traces, paths on the job's machine.
JARGON = ("ffprobe", "ffmpeg", "moov", "atom", "Traceback", "Error:", "Errno", "exception", "/tmp", "stderr")

# Every ready file streams once, three to a playlist, the playlists at the same time.
PLAYLISTS = (
    ("portrait-hevc-10bit.mp4", "sunset-vp9.webm", "dusk-variable-rate.mp4"),
    ("talk-44k-mono.mp4", "morning-song.mp3", "odd-width.mp4"),
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("library")
    makers: dict[str, Callable[[Path], Path]] = {name: case.make for name, case in PLAYABLE.items()}
    makers |= {name: make for name, (make, _reason) in BROKEN.items()}
    makers[EMPTY] = media_files.zero_bytes
    with ThreadPoolExecutor(2) as pool:  # two cores
        made = pool.map(lambda name: makers[name](folder / name), makers)
        return dict(zip(makers, made, strict=True))


@dataclass
class Library:
    media: dict[str, dict[str, Any]]  # by file name, as the job left it
    seen: dict[str, list[str]]  # each one's statuses, from its upload's completion on
    empty_answer: requests.Response
    used_before: int


def _storage_used(api: ApiClient) -> int:
    return int(api.ok("GET", "/api/me")["storage_used_bytes"])


@pytest.fixture(scope="module")
def library(
    dana_api: ApiClient, files: dict[str, Path], local_mode: LocalModeProcess, figures: dict[str, Any]
) -> Library:
    """Every file uploaded at once as the browser does it, then waited for until its job is over."""
    used_before = _storage_used(dana_api)
    empty_answer = dana_api.post(
        "/api/media", {"filename": EMPTY, "size_bytes": 0, "content_type": "video/mp4"}
    )
    content_types = {name: case.content_type for name, case in PLAYABLE.items()}
    names = [*PLAYABLE, *BROKEN]
    began = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        completed = dict(
            zip(
                names,
                pool.map(
                    lambda n: upload_only(
                        dana_api, files[n], local_mode.url, content_types.get(n, "video/mp4")
                    ),
                    names,
                ),
                strict=True,
            )
        )
    seen = {name: [completed[name]["status"]] for name in names}
    with ThreadPoolExecutor(len(names)) as pool:
        done = pool.map(
            lambda n: wait_for_media(
                dana_api, completed[n]["media_id"], seen=seen[n], interval_s=WAIT_INTERVAL_S
            ),
            names,
        )
        media = dict(zip(names, done, strict=True))
    record_figure(figures, "media_library_uploads_to_settled_s", time.monotonic() - began)
    return Library(media, seen, empty_answer, used_before)


def _objects(api: ApiClient, library: Library, media_id: str | None = None) -> dict[str, int]:
    """What local mode's S3 holds for the user (or one media of hers): key → size."""
    assert api.user is not None
    url = next(m["thumbnail_url"] for m in library.media.values() if m["thumbnail_url"])
    s3, bucket = local_s3(url)
    prefix = f"media/{api.user.user_id}/" + (f"{media_id}/" if media_id else "")
    listed: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        listed |= {item["Key"]: int(item["Size"]) for item in page.get("Contents", [])}
    return listed


def _plain_words(reason: str | None) -> list[str]:
    """What in `reason` a user could not read: empty when it is plain words."""
    if not reason:
        return ["no reason given"]
    return [word for word in JARGON if word.lower() in reason.lower()]


@pytest.mark.parametrize("name", list(PLAYABLE))
def test_each_playable_upload_ends_ready_with_its_facts_and_a_webp_thumbnail(
    name: str, library: Library, dana_api: ApiClient, files: dict[str, Path], tmp_path: Path
) -> None:
    case, media = PLAYABLE[name], library.media[name]

    assert (media["status"], media["error"]) == ("ready", None), library.seen[name]
    assert library.seen[name] == ["probing", "conforming", "ready"]
    assert media["stream_ready"] is False  # none of them could stream as it was
    assert media["size_bytes"] == files[name].stat().st_size
    played = stored_copy(dana_api, media, tmp_path / "played.mp4")
    timing = stream_task_probe("ffprobe", played)
    assert timing is not None
    assert timing.video_s is not None
    # The length a user sees is the length that plays: the conformed copy's (its sound cut to its picture).
    assert media["duration_s"] == pytest.approx(timing.video_s, abs=0.05)
    assert media["duration_s"] == pytest.approx(SECONDS + (OVERHANG if case.video is None else 0), abs=0.1)
    if case.video is None:
        assert media["video"] is None
    else:
        video = media["video"]
        assert (video["codec"], video["width"], video["height"]) == case.video
        if case.fps is not None:
            assert video["fps"] == pytest.approx(case.fps)
    audio = media["audio"]
    assert (audio["codec"], audio["sample_rate"], audio["channels"]) == case.audio

    thumbnail = requests.get(media["thumbnail_url"], timeout=10)
    assert (thumbnail.status_code, thumbnail.headers["Content-Type"]) == (200, "image/webp")
    assert (thumbnail.content[:4], thumbnail.content[8:12]) == (b"RIFF", b"WEBP")

    stored = _objects(dana_api, library, media["media_id"])
    assert sorted(key.rsplit("/", 1)[-1] for key in stored) == ["conformed.mp4", "thumbnail.webp"]
    assert media["stored_bytes"] == sum(stored.values())


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_broken_upload_fails_in_plain_words_and_leaves_nothing_stored(
    name: str, library: Library, dana_api: ApiClient
) -> None:
    media, (_make, reason) = library.media[name], BROKEN[name]

    assert media["status"] == "failed", library.seen[name]
    assert media["error"] == reason
    assert _plain_words(media["error"]) == []
    assert (media["stored_bytes"], media["thumbnail_url"], media["duration_s"]) == (0, None, None)
    assert _objects(dana_api, library, media["media_id"]) == {}


def test_an_empty_file_is_refused_when_its_upload_is_created(library: Library, dana_api: ApiClient) -> None:
    answer = library.empty_answer
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert "size_bytes" in error["message"]
    assert "the file is empty (0 bytes)" in error["message"]
    assert "Traceback" not in answer.text
    # Nothing was created for it: no media item (and so no reservation of the quota).
    assert EMPTY not in [m["filename"] for m in all_media(dana_api)]


def test_storage_used_is_what_the_library_stores(library: Library, dana_api: ApiClient) -> None:
    counted = {m["media_id"]: m["stored_bytes"] for m in all_media(dana_api)}
    stored = _objects(dana_api, library)
    by_media: dict[str, int] = {}
    for key, size in stored.items():
        media_id = key.split("/")[2]
        by_media[media_id] = by_media.get(media_id, 0) + size

    assert library.used_before == 0
    assert _storage_used(dana_api) == sum(counted.values()) == sum(stored.values())
    assert {media_id: size for media_id, size in counted.items() if size} == by_media
    failed = [m["media_id"] for m in library.media.values() if m["status"] == "failed"]
    assert [counted[media_id] for media_id in failed] == [0] * len(BROKEN)  # they hold nothing


@dataclass
class _OnAir:
    names: tuple[str, ...]
    key: str
    stream_id: str = ""
    duration_s: int = 0
    # The x264 settings each item's first picture carries, in play order (two items may share them), and
    # the names of the items that carry each: how a recording shows where each item starts.
    starts: list[bytes] = field(default_factory=list)
    labels: dict[bytes, str] = field(default_factory=dict)
    frame_ms: float = 0.0  # the longest frame among its items


def test_the_ready_files_stream_in_playlists_without_a_seam(
    library: Library,
    dana_api: ApiClient,
    local_mode: LocalModeProcess,
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    figures: dict[str, Any],
    tmp_path: Path,
) -> None:
    assert sorted(name for names in PLAYLISTS for name in names) == sorted(PLAYABLE)
    streams = [_OnAir(names, new_stream_key(stream_keys)) for names in PLAYLISTS]
    for number, stream in enumerate(streams, start=1):
        one_pass_s = 0.0
        for name in stream.names:
            media = library.media[name]
            assert media["status"] == "ready", (name, media["error"])
            played = stored_copy(dana_api, media, tmp_path / f"{name}.played.mp4")
            video = next(s for s in probe(played)["streams"] if s["codec_type"] == "video")
            stream.frame_ms = max(stream.frame_ms, 1000 / float(Fraction(video["avg_frame_rate"])))
            timing = stream_task_probe("ffprobe", played)
            assert timing is not None
            assert timing.video_s is not None
            one_pass_s += timing.video_s
            settings = encoder_settings(played)
            stream.starts.append(settings)
            stream.labels[settings] = "/".join(filter(None, [stream.labels.get(settings), name]))
        playlist = dana_api.ok(
            "POST",
            "/api/playlists",
            {"name": f"library {number}", "media_ids": [library.media[n]["media_id"] for n in stream.names]},
            201,
        )
        assert playlist["duration_s"] == pytest.approx(one_pass_s, abs=0.1)
        destination = dana_api.ok(
            "POST",
            "/api/destinations",
            {
                "type": "rtmp",
                "name": f"library sink {number}",
                "url": rtmp_sink.url,
                "stream_key": stream.key,
            },
            201,
        )
        stream.duration_s = math.floor(one_pass_s)  # about one pass: the limit ends the loop
        stream.stream_id = dana_api.ok(
            "POST",
            "/api/streams",
            {
                "title": f"library {number}",
                "playlist_id": playlist["playlist_id"],
                "destination_ids": [destination["destination_id"]],
                "loop": True,
                "duration_s": stream.duration_s,
            },
            201,
        )["stream_id"]
    began = time.monotonic()
    for stream in streams:
        assert dana_api.post(f"/api/streams/{stream.stream_id}/start").status_code == 202
    for stream in streams:
        wait_for_status(dana_api, stream.stream_id, {"live"}, START_TO_LIVE_TIMEOUT_S)
    for stream in streams:
        ended, _ = wait_for_status(
            dana_api, stream.stream_id, {"ended"}, stream.duration_s + END_MARGIN_S, interval_s=1.0
        )
        assert ended["error"] in (None, ""), ended
        events = [e["type"] for e in dana_api.ok("GET", f"/api/streams/{stream.stream_id}/events")["items"]]
        assert "restarted" not in events, events
    record_figure(figures, "media_library_streams_wall_s", time.monotonic() - began)

    for stream in streams:
        recording = rtmp_sink.recording(stream.key)
        wait_until_written(recording, 15)
        found = packets(recording)
        report = seam_report(found, stream.labels)
        video_limit_ms, audio_limit_ms = gap_limits_ms(stream.frame_ms, found.audio_frame_ms)
        lines = stream_log_lines(local_mode.log_file, stream.stream_id)
        print(f"\n{' + '.join(stream.names)}: {report.summary()}")

        assert found.audio_sample_rate == 48000
        assert timing_faults(report, found, video_limit_ms, audio_limit_ms) == []
        assert [seam.label for seam in report.seams] == [stream.labels[s] for s in stream.starts]
        assert abs(report.duration_s - stream.duration_s) <= 1.0, report.duration_s
        assert abs(report.av_end_difference_ms) <= stream.frame_ms, report.av_end_difference_ms
        assert lines, "the stream task should have logged this stream"
        assert timestamp_warnings(lines) == [], timestamp_warnings(lines)[:5]


# --- imports ---


def test_an_import_whose_connection_drops_half_way_resumes_and_ends_ready(
    dana_api: ApiClient, tmp_path: Path
) -> None:
    # Stream-ready (at 640x480, its 1.2 Mbps is within YouTube's 2): what is stored is what was served.
    clip = make_clip(tmp_path / "lecture.mp4", 3, size="640x480").read_bytes()
    used_before = _storage_used(dana_api)
    with serve_files() as server:
        server.files["/talks/lecture.mp4"] = ServedFile(clip, drop_after=len(clip) // 2)
        created = dana_api.ok("POST", "/api/media/imports", {"url": server.url("/talks/lecture.mp4")}, 202)
        assert (created["status"], created["filename"]) == ("importing", "lecture.mp4")

        media = wait_for_media(dana_api, created["media_id"])

        requested = [(seen.range, seen.if_range) for seen in server.seen]
    assert (media["status"], media["error"]) == ("ready", None)
    assert requested == [(None, None), (f"bytes={len(clip) // 2}-", '"v1"')]  # resumed where it dropped
    assert (media["size_bytes"], media["stream_ready"]) == (len(clip), True)
    assert stored_copy(dana_api, media, tmp_path / "stored.mp4").read_bytes() == clip
    assert _storage_used(dana_api) - used_before == media["stored_bytes"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "169.254.169.254 is not a public internet address; only public hosts are allowed",
        ),
        ("file:///etc/passwd", "only http:// and https:// links can be imported"),
    ],
    ids=["cloud-metadata-address", "file-on-the-server"],
)
def test_a_link_outside_the_public_internet_is_refused_at_once(
    url: str, message: str, dana_api: ApiClient
) -> None:
    count_before = len(all_media(dana_api))

    answer = dana_api.post("/api/media/imports", {"url": url})

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {"code": "invalid_input", "message": message}
    assert len(all_media(dana_api)) == count_before


def test_a_redirect_to_a_private_address_fails_the_import_with_its_reason(dana_api: ApiClient) -> None:
    used_before = _storage_used(dana_api)
    with serve_files() as server:
        server.redirects["/share/film.mp4"] = "http://10.0.0.1/x"
        created = dana_api.ok("POST", "/api/media/imports", {"url": server.url("/share/film.mp4")}, 202)

        media = wait_for_media(dana_api, created["media_id"])

        assert [seen.path for seen in server.seen] == ["/share/film.mp4"]
    assert media["status"] == "failed"
    assert media["error"] == (
        "the link redirects, and the redirect cannot be followed: 10.0.0.1 is not a public internet "
        "address; only public hosts are allowed"
    )
    assert _plain_words(media["error"]) == []
    assert (media["stored_bytes"], media["thumbnail_url"]) == (0, None)
    assert _storage_used(dana_api) == used_before


def test_a_link_to_this_machine_is_refused_when_loopback_imports_are_off(
    tmp_path_factory: pytest.TempPathFactory, response_log: ResponseLog
) -> None:
    root = tmp_path_factory.mktemp("local-no-loopback")
    with (
        running_local_mode(root, {"LOCAL_ALLOW_LOOPBACK_IMPORTS": "false"}) as strict,
        serve_files() as server,
    ):
        config = requests.get(f"{strict.url}/config.json", timeout=5).json()
        api = ApiClient(strict.url, sign_up_and_in(strict, config, "erin@example.com"), response_log)
        server.files["/videos/clip.mp4"] = ServedFile(b"\0" * 1024)

        answers = [
            api.post("/api/media/imports", {"url": url})
            for url in (server.url("/videos/clip.mp4"), f"http://localhost:{server.port}/videos/clip.mp4")
        ]

        assert [a.status_code for a in answers] == [422, 422], [a.text for a in answers]
        assert answers[0].json()["error"] == {
            "code": "invalid_input",
            "message": "127.0.0.1 is not a public internet address; only public hosts are allowed",
        }
        assert answers[1].json()["error"]["message"] == (
            "host localhost resolves to an address that is not on the public internet; only public hosts "
            "are allowed"
        )
        assert server.seen == []  # nothing was fetched
        assert api.ok("GET", "/api/media")["items"] == []
