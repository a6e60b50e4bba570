"""The image, for real (issue 9, point 4): stream_task/Dockerfile built with podman on a Debian bookworm base
made by mmdebstrap (local/task_container.py), and local mode's launcher running each stream task in it, as
Fargate does. One looping stream plays through the container into an nginx-rtmp ingest, and, read from the
host's /proc and podman while it is live: the task runs its entry point `python -m stream_task` as the
image's non-root user (uid 10001) under the container's init, the ffmpeg that reads the media as
playout-ffmpeg (uid 10002) and the one that pushes to the ingest as playout-pusher (uid 10003), with the task
definition's environment and the image's own, nothing of this machine's. Then `podman stop` with the
stop timeout, as Spot's reclaim: the task stops by itself (143, not the SIGKILL at the timeout's end), the
stream says it was interrupted and a new container resumes it, the recording of the first session is whole;
a stop through the API ends the second container cleanly (0).

The image build is this module's session fixture, in its own xdist group: it runs beside the other e2e tests.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.task_container import IMAGE, RUN_LABEL, STREAM_LABEL, Podman, PodmanMissing, build_image
from playout.resources import TASK_STOP_TIMEOUT_S
from stream_task.launch import KEPT_ENVIRONMENT
from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    ResponseLog,
    new_stream_key,
    record_figure,
    running_local_mode,
    sign_up_and_in,
    stream_task_pids,
    upload_media,
    wait_for_status,
    wait_until,
)
from tests.e2e.fault_rig import Nginx, argv_of, children, log_records
from tests.e2e.recording import (
    ffmpeg_check,
    gap_limits_ms,
    packets,
    seam_report,
    timing_faults,
    wait_until_written,
)
from tests.media_probe import probe

pytestmark = pytest.mark.xdist_group(name="task-image")

TASK_UID, FFMPEG_UID, PUSHER_UID = 10001, 10002, 10003
CONTAINER_START_TIMEOUT_S = 60
PLAYED_BEFORE_STOP_S = 6


@pytest.fixture(scope="module")
def podman() -> Podman:
    return Podman()


@pytest.fixture(scope="module")
def task_image(podman: Podman, figures: dict[str, Any]) -> str:
    try:
        record_figure(figures, "task_image_build_s", build_image(podman))
    except PodmanMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    return IMAGE


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """An nginx-rtmp ingest recording each publish session to a file of its own."""
    record_dir = Path(tempfile.mkdtemp(prefix="playout-e2e-image-"))
    nginx = Nginx(tmp_path_factory.mktemp("image-ingest"), record_dir)
    nginx.start()
    try:
        yield nginx
    finally:
        nginx.stop()
        shutil.rmtree(record_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def container_local_mode(
    task_image: str, podman: Podman, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalModeProcess]:
    try:
        with running_local_mode(
            tmp_path_factory.mktemp("image-local"), {"LOCAL_TASK_IMAGE": task_image}
        ) as local:
            yield local
    finally:
        leftover = _containers(podman, f"{STREAM_LABEL}")
        if leftover:
            podman.run("rm", "--force", *[c["Id"] for c in leftover], check=False)


def _containers(podman: Podman, label: str) -> list[dict[str, Any]]:
    listed = podman.run("ps", "--all", "--filter", f"label={label}", "--format", "json").stdout
    return list(json.loads(listed or "[]"))


def _proc(pid: int) -> tuple[list[str], dict[str, str], set[int]]:
    """A process's argv, environment and uids (real, effective, saved, filesystem) as /proc shows them."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
    return argv_of(pid), dict(v.decode().split("=", 1) for v in environ if b"=" in v), {int(u) for u in uids}


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def _task_exits(local: LocalModeProcess, run_id: str) -> list[int]:
    """The exit codes of the run's tasks, as the launcher's workflow saw them, attempt after attempt."""
    return [
        int(r["exit_code"])
        for r in log_records(local.log_file)
        if r.get("message") == "task exited" and r.get("run_id") == run_id
    ]


def _event_types(api: ApiClient, stream_id: str) -> list[str]:
    return [e["type"] for e in reversed(api.ok("GET", f"/api/streams/{stream_id}/events")["items"])]


def _resources(local: LocalModeProcess) -> dict[str, Any]:
    return next(r for r in log_records(local.log_file) if r.get("message") == "resources created")


def test_a_stream_plays_through_the_container_and_stops_cleanly_on_sigterm(
    container_local_mode: LocalModeProcess,
    podman: Podman,
    ingest: Nginx,
    clip: Path,
    stream_keys: list[str],
    response_log: ResponseLog,
    figures: dict[str, Any],
) -> None:
    local = container_local_mode
    config = requests.get(f"{local.url}/config.json", timeout=10).json()
    user = sign_up_and_in(local, config, "image@example.com")
    api = ApiClient(local.url, user, response_log)
    media = upload_media(api, clip, local.url)
    assert media["status"] == "ready", media
    key = new_stream_key(stream_keys)
    destination = api.ok(
        "POST",
        "/api/destinations",
        {"type": "rtmp", "name": "image", "url": ingest.url, "stream_key": key},
        201,
    )
    body = {
        "title": "through the image",
        "media_ids": [media["media_id"]],
        "destination_ids": [destination["destination_id"]],
        "loop": True,
    }
    stream_id = api.ok("POST", "/api/streams", body, 201)["stream_id"]
    assert api.post(f"/api/streams/{stream_id}/start").status_code == 202
    wait_for_status(api, stream_id, {"live"}, CONTAINER_START_TIMEOUT_S)

    # --- what runs: one container of the stream's, its image's entry point and users ---
    [container] = _containers(podman, f"{STREAM_LABEL}={stream_id}")
    run_id = container["Labels"][RUN_LABEL]
    [inspected] = json.loads(podman.run("inspect", container["Id"]).stdout)
    assert inspected["ImageName"] == IMAGE
    assert inspected["Config"]["Entrypoint"] in (["python", "-m", "stream_task"], "python -m stream_task")
    assert inspected["Config"]["User"] == "playout"
    assert inspected["Config"]["StopSignal"] in ("SIGTERM", 15)
    assert inspected["HostConfig"]["NetworkMode"] == "host"

    # The container's first process is its init (catatonit, as ECS's initProcessEnabled), the task its child.
    init = inspected["State"]["Pid"]
    assert argv_of(init)[0] == "/run/podman-init"  # catatonit, as podman mounts it
    [task] = [pid for pid in stream_task_pids(stream_id) if pid != init]
    assert _parent(task) == init
    argv, env, uids = _proc(task)
    assert argv == ["python", "-m", "stream_task"]
    assert uids == {TASK_UID}

    wait_until(lambda: len(children(task)) >= 2, "reading and pushing", 15)
    ffmpegs = [pid for pid, child_argv in children(task) if child_argv and child_argv[0].endswith("ffmpeg")]
    assert len(ffmpegs) >= 2, children(task)  # a reader and a pusher
    for pid in ffmpegs:
        ffmpeg_argv, ffmpeg_env, ffmpeg_uids = _proc(pid)
        assert ffmpeg_argv[0] == "/opt/engine-ffmpeg/bin/ffmpeg"  # the image's engine build
        # The pusher, which reads its ingest's key (-fpre, on a pipe), apart from the reader of the upload.
        assert ffmpeg_uids == ({PUSHER_UID} if "-fpre" in ffmpeg_argv else {FFMPEG_UID}), ffmpeg_argv
        assert set(ffmpeg_env) <= set(KEPT_ENVIRONMENT), sorted(ffmpeg_env)
    assert any("-fpre" in argv_of(pid) for pid in ffmpegs)  # the pusher is among them
    assert not any(key in " ".join(argv_of(pid)) for pid in ffmpegs)

    # --- the environment contract: the task definition's and the run's ids, the image's own, no host's ---
    resources = _resources(local)
    assert {name: env.get(name) for name in ("STREAM_ID", "USER_ID", "RUN_ID")} == {
        "STREAM_ID": stream_id,
        "USER_ID": user.user_id,
        "RUN_ID": run_id,
    }
    assert env["TABLE_NAME"] == resources["table"]
    assert env["MEDIA_BUCKET"] == resources["bucket"]
    assert env["AWS_ENDPOINT_URL"] == resources["endpoint_url"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "playout-stream"
    image_env = dict(v.split("=", 1) for v in inspected["Config"]["Env"])
    for name in (
        "FFMPEG_PATH",
        "FFMPEG_USER",
        "FFMPEG_PUSHER_USER",
        "FFMPEG_LAUNCHER",
        "MALLOC_ARENA_MAX",
        "PATH",
        "HOME",
        "TMPDIR",
    ):
        assert env[name] == image_env[name], name
    assert env["FFMPEG_PATH"] == "/opt/engine-ffmpeg/bin/ffmpeg"
    assert env["HOME"] == "/app"
    assert "PYTHONPATH" not in env  # the task imports what the image holds, not this checkout
    assert not [value for value in env.values() if key in value]

    # --- SIGTERM as Spot's reclaim: `podman stop` with the stop timeout ---
    time.sleep(PLAYED_BEFORE_STOP_S)  # on air: there is a position to resume from
    stopping = time.monotonic()
    podman.run(
        "stop", "--time", str(TASK_STOP_TIMEOUT_S), container["Id"], timeout_s=TASK_STOP_TIMEOUT_S + 30
    )
    record_figure(figures, "task_image_sigterm_to_exit_s", time.monotonic() - stopping)
    wait_until(lambda: len(_task_exits(local, run_id)) >= 1, "the first task's exit seen", 30)
    # 143: the task stopped itself on SIGTERM; 137 would be podman's SIGKILL at the stop timeout's end.
    assert _task_exits(local, run_id)[0] == 143, _task_exits(local, run_id)
    wait_until(lambda: "restarted" in _event_types(api, stream_id), "resumed in a new container", 60)
    kinds = _event_types(api, stream_id)
    assert kinds[-2:] == ["interrupted", "restarted"], kinds
    assert api.ok("GET", f"/api/streams/{stream_id}")["status"] == "live"
    wait_until(lambda: len(_containers(podman, f"{STREAM_LABEL}={stream_id}")) == 1, "one container", 30)
    [second] = _containers(podman, f"{STREAM_LABEL}={stream_id}")
    assert second["Id"] != container["Id"]

    # --- a stop asked through the API ends the second container cleanly ---
    wait_until(lambda: len(ingest.recordings(key)) >= 2, "the resumed session recorded", 30)
    assert api.post(f"/api/streams/{stream_id}/stop").status_code == 202
    ended, _ = wait_for_status(api, stream_id, {"ended"}, 60)
    assert ended["error"] in (None, ""), ended
    assert "ended" in _event_types(api, stream_id)
    wait_until(lambda: len(_task_exits(local, run_id)) >= 2, "the second task's exit seen", 30)
    assert _task_exits(local, run_id) == [143, 0]
    wait_until(lambda: not _containers(podman, f"{STREAM_LABEL}={stream_id}"), "the containers removed", 30)

    # --- the first session's recording is whole: it decodes and its timing has no hole ---
    first = ingest.recordings(key)[0]
    wait_until_written(first, 15)
    info = probe(first)
    assert {s["codec_type"]: s["codec_name"] for s in info["streams"]} == {"video": "h264", "audio": "aac"}
    played = float(info["format"]["duration"])
    record_figure(figures, "task_image_first_session_s", played)
    assert played >= PLAYED_BEFORE_STOP_S - 1, played
    found = packets(first)
    report = seam_report(found)
    assert not timing_faults(report, found, *gap_limits_ms(1000 / 30, found.audio_frame_ms))
    assert ffmpeg_check(first) == []
