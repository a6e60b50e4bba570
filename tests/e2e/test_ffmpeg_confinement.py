"""A compromised ffmpeg reaches nothing: read from /proc while local mode streams and conforms, every ffmpeg
the task and the media job start runs under its own uid (here `nobody`: the tests run as root, so the task
switches), with nothing of the task's environment, and no process's command line holds the stream key,
which still reaches the ingest (the recording is filed under it). And the whitelists: a file that names
other files (an HLS playlist, a concat script) is refused instead of followed."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.processes import launched_pids
from stream_task.command import ENGINE_DEMUXERS
from stream_task.launch import KEPT_ENVIRONMENT
from stream_task.media_facts import MediaRejected, read_media_facts
from stream_task.probe import probe
from stream_task.reader import Part, reader_argv
from tests.e2e import media_files
from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    RtmpSink,
    new_stream_key,
    stream_task_pids,
    upload_only,
    wait_for_media,
    wait_for_status,
)
from tests.media_probe import probe as probe_recording

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
ENGINE_FFMPEG = Path(__file__).resolve().parents[2] / "build" / "ffmpeg-stream" / "bin" / "ffmpeg"
SANDBOX = pwd.getpwnam("nobody")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the task switches users only when it can (root)")


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found


@pytest.fixture
def ffmpeg_seen() -> Callable[[list[int]], list[dict[str, Any]]]:
    """The ffmpeg and ffprobe processes under the given pids, as /proc shows them: argv, environment, uids."""

    def seen(roots: list[int]) -> list[dict[str, Any]]:
        processes = []
        for pid in (child for root in roots for child in _descendants(root)):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue  # ended meanwhile
            if not argv or Path(argv[0].decode()).name not in ("ffmpeg", "ffprobe"):
                continue
            uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
            groups = next(line for line in status if line.startswith("Groups:")).split()[1:]
            processes.append(
                {
                    "argv": [a.decode() for a in argv if a],
                    "env": dict(v.decode().split("=", 1) for v in environ if b"=" in v),
                    "uids": {int(u) for u in uids},
                    "groups": groups,
                }
            )
        return processes

    return seen


def _assert_confined(process: dict[str, Any]) -> None:
    assert process["uids"] == {SANDBOX.pw_uid}, process["argv"][:3]  # real, effective, saved, filesystem
    assert process["groups"] == []
    assert set(process["env"]) <= set(KEPT_ENVIRONMENT), sorted(process["env"])
    assert "PATH" in process["env"]


def _every_command_line() -> bytes:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes())
            except OSError:
                continue
    return b"\n".join(lines)


def test_a_live_streams_ffmpeg_holds_no_key_on_its_command_line_and_nothing_of_the_task(
    alice_api: ApiClient,
    alice_media: dict[str, Any],
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    ffmpeg_seen: Callable[[list[int]], list[dict[str, Any]]],
) -> None:
    key = new_stream_key(stream_keys)
    destination = alice_api.ok(
        "POST",
        "/api/destinations",
        {"type": "rtmp", "name": "confined", "url": rtmp_sink.url, "stream_key": key},
        201,
    )
    stream_id = alice_api.ok(
        "POST",
        "/api/streams",
        {
            "title": "confined ffmpeg",
            "media_ids": [alice_media["media_id"]],
            "destination_ids": [destination["destination_id"]],
            "loop": True,
        },
        201,
    )["stream_id"]
    assert alice_api.post(f"/api/streams/{stream_id}/start").status_code == 202
    wait_for_status(alice_api, stream_id, {"live"}, 30)
    try:
        tasks = stream_task_pids(stream_id)
        assert tasks, "the stream's task is not running"
        task_env = Path(f"/proc/{tasks[0]}/environ").read_bytes()
        # What its ffmpeg must not inherit:
        assert b"TABLE_NAME=" in task_env
        assert b"AWS_" in task_env
        processes = ffmpeg_seen(tasks)
        command_lines = _every_command_line()
    finally:
        assert alice_api.post(f"/api/streams/{stream_id}/stop").status_code == 202
    wait_for_status(alice_api, stream_id, {"ended"}, 30)

    kinds = {"pusher" if "pipe:0" in p["argv"] else "reader" for p in processes}
    assert kinds == {"pusher", "reader"}, [p["argv"] for p in processes]
    for process in processes:
        _assert_confined(process)
    assert key.encode() not in command_lines  # no process on the machine shows it
    (pusher,) = [p for p in processes if "pipe:0" in p["argv"]]
    assert pusher["argv"][-1] == rtmp_sink.url.rsplit("/", 1)[0]  # the ingest's address: scheme, host, port
    assert pusher["argv"][-3] == "-fpre"
    # The key reached the ingest all the same: nginx-rtmp files the recording under it.
    recorded = float(probe_recording(rtmp_sink.recording(key))["format"]["duration"])
    assert recorded > 0
    print(f"confined: {len(processes)} ffmpeg processes as uid {SANDBOX.pw_uid}, {recorded:.1f} s recorded")


def test_a_media_jobs_ffmpeg_runs_as_its_own_user_with_nothing_of_the_jobs_environment(
    alice_api: ApiClient,
    local_mode: LocalModeProcess,
    tmp_path: Path,
    ffmpeg_seen: Callable[[list[int]], list[dict[str, Any]]],
) -> None:
    source = media_files.vp9_webm(tmp_path / "confined.webm", seconds=20)  # not stream-ready: conformed
    media_id = upload_only(alice_api, source, local_mode.url, content_type="video/webm")["media_id"]
    seen: dict[tuple[str, ...], dict[str, Any]] = {}
    status, asked = "probing", 0.0
    deadline = time.monotonic() + 180
    while status not in ("ready", "failed"):
        for process in ffmpeg_seen(launched_pids("stream_task.media_job", "MEDIA_ID", media_id)):
            seen.setdefault(tuple(process["argv"]), process)
        if time.monotonic() - asked > 0.5:
            status, asked = alice_api.ok("GET", f"/api/media/{media_id}")["status"], time.monotonic()
        assert time.monotonic() < deadline, f"the job is still {status}"
        time.sleep(0.02)
    media = wait_for_media(alice_api, media_id)

    assert media["status"] == "ready", media["error"]
    processes = list(seen.values())
    programs = {Path(p["argv"][0]).name for p in processes}
    assert programs == {"ffmpeg", "ffprobe"}, programs
    assert any("libx264" in p["argv"] for p in processes), "the conform's encode was not seen"
    for process in processes:
        _assert_confined(process)
        # Each one's inputs are held to the file protocol and (the upload's) to the media demuxers.
        assert "-protocol_whitelist" in process["argv"], process["argv"]
    print(f"media job: {len(processes)} ffmpeg/ffprobe processes seen, all as uid {SANDBOX.pw_uid}")


# --- the whitelists: a file that names other files is refused, not followed ---


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """Next to the job's own download, a file it must never read (another media, a secret)."""
    secret = tmp_path / "other.mp4"
    media_files.plain_mp4(secret, 2.0)
    return secret


def _concat_script(path: Path, target: Path) -> Path:
    path.write_text(f"ffconcat version 1.0\nfile '{target.name}'\n")  # a relative name: allowed by safe=1
    return path


def _hls_playlist(path: Path, segment: str) -> Path:
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n")
    return path


def test_without_the_whitelists_ffprobe_follows_a_concat_script_to_another_file(
    tmp_path: Path, planted: Path
) -> None:
    """The attack the whitelists stop: an "upload" that makes ffprobe read a file next to it."""
    script = _concat_script(tmp_path / "upload.mp4", planted)
    followed = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-show_entries",
            "format=format_name,duration",
            "-of",
            "csv=p=0",
            str(script),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert followed.stdout.startswith("concat,"), followed


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp, planted: _concat_script(tmp / "upload.mp4", planted),
        lambda tmp, planted: _hls_playlist(tmp / "upload.mp4", planted.name),
        lambda tmp, planted: _hls_playlist(tmp / "upload.mp4", "file:///etc/passwd"),
    ],
    ids=["concat of a local path", "hls of a local path", "hls of file:///etc/passwd"],
)
def test_a_file_that_names_other_files_is_refused_by_the_probe_and_the_reader(
    tmp_path: Path, planted: Path, make: Callable[[Path, Path], Path]
) -> None:
    upload = make(tmp_path, planted)
    with pytest.raises(MediaRejected) as rejected:
        read_media_facts(FFPROBE, FFMPEG, upload)
    assert "could not read" in rejected.value.reason or "not a video" in rejected.value.reason
    assert probe(FFPROBE, upload) is None
    # The stream's reader, with Debian's full ffmpeg (which has these demuxers) in the engine's place.
    reader = subprocess.run(reader_argv(FFMPEG, Part(str(upload))), capture_output=True, check=False)
    assert reader.returncode != 0
    assert b"not on whitelist" in reader.stderr, reader.stderr[-300:]
    assert reader.stdout == b""


def test_a_reader_of_s3_may_not_open_a_local_file(tmp_path: Path, planted: Path) -> None:
    """An item read over HTTPS (before it is staged) whose bytes name a file: it has no file protocol."""
    argv = reader_argv(str(ENGINE_FFMPEG), Part("https://127.0.0.1:9/bucket/key"))
    whitelist = argv[argv.index("-protocol_whitelist") + 1]
    assert "file" not in whitelist.split(",")
    assert argv[argv.index("-format_whitelist") + 1] == ENGINE_DEMUXERS
    # The same reader given a local path instead: refused by the whitelist, not by a missing file.
    argv[argv.index("-i") + 1] = f"file:{planted}"
    refused = subprocess.run(argv, capture_output=True, check=False)
    assert refused.returncode != 0
    assert b"Protocol 'file' not on whitelist" in refused.stderr, refused.stderr
