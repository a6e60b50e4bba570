"""End-to-end: local mode as a process (moto, gateway, real stream tasks and ffmpeg), an nginx-rtmp sink
that records what it receives, and API clients signed in through the local Cognito proxy.

Everything expensive is session-scoped and started once per worker; tests/conftest.py keeps the e2e tests
on one pytest-xdist worker, except a module with its own group (test_seams.py), which gets its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest
import requests

from local.processes import launched_pids
from local.resources import REGION as LOCAL_REGION
from playout.media import conformed_key, object_key
from tests.e2e.secret_scan import THIS_RUN, Place, ResponseLog, SecretScan

REPO_ROOT = Path(__file__).resolve().parents[2]
FIGURES_FILE = REPO_ROOT / "build" / "e2e-figures.json"
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "Correct-Horse-9-battery!"
CLIP_SECONDS = 20
LOCAL_START_TIMEOUT_S = 120
_SESSION_STARTED = time.time()  # figures written before this are an earlier run's
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "TERM",
)  # includes building web/dist when it is missing


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"e2e needs {', '.join(missing)} (make system-deps installs them)", pytrace=False)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port} after {timeout_s} s")


def _stop(
    process: subprocess.Popen[bytes], signum: int = signal.SIGTERM, timeout_s: float = 30
) -> int | None:
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


# --- figures ---


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, Any]]:
    """Measured e2e figures: printed and written to build/e2e-figures.json (readable without `-s`)."""
    values: dict[str, Any] = {}
    yield values
    if values:
        merged = _merge_figures(values)
        print(f"\ne2e figures ({FIGURES_FILE}): {json.dumps(merged, sort_keys=True)}")


def _merge_figures(values: dict[str, Any]) -> dict[str, Any]:
    """Adds to what another worker of this run wrote (the e2e groups run side by side), under a lock."""
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES_FILE.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged: dict[str, Any] = {}
        if FIGURES_FILE.exists() and FIGURES_FILE.stat().st_mtime >= _SESSION_STARTED:
            with contextlib.suppress(ValueError):
                merged = dict(json.loads(FIGURES_FILE.read_text()))
        merged |= values
        FIGURES_FILE.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return merged


def record_figure(figures: dict[str, Any], name: str, value: float) -> None:
    figures[name] = round(value, 3)
    print(f"e2e figure {name} = {value:.3f}")


# --- secrets stay secret ---


@pytest.fixture(scope="session", autouse=True)
def secret_scan(figures: dict[str, Any]) -> Iterator[SecretScan]:
    """After every other fixture of the worker's e2e session (local modes, ingests) has stopped: every secret
    the run used, looked for in every place it could have leaked to (tests/e2e/secret_scan.py). A hit fails
    the run, with its place and a redacted excerpt."""
    # Where an nginx whose configuration names no log of its own writes (Debian's: /var/log/nginx/), shared
    # with every other nginx on the machine: what this session adds to it.
    for default_log in nginx_default_logs():
        THIS_RUN.watch(Place.LOG, default_log, from_byte=default_log.stat().st_size)
    yield THIS_RUN
    report = THIS_RUN.report()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    for name, value in report.figures(f"secret scan {worker}:").items():
        record_figure(figures, name, value)
    if not report.clean:
        pytest.fail(f"secrets leaked:\n{report.describe()}", pytrace=False)


def nginx_default_logs() -> list[Path]:
    """The log files nginx was built to write to when its configuration names none (`nginx -V`): readable."""
    if shutil.which("nginx") is None:
        return []
    built = subprocess.run(["nginx", "-V"], capture_output=True, text=True, check=False, timeout=10).stderr
    paths = re.findall(r"--(?:http|error)-log-path=(/\S+)", built)
    return [Path(path) for path in paths if Path(path).is_file() and os.access(path, os.R_OK)]


# --- the RTMP ingest ---


@dataclass(frozen=True)
class RtmpSink:
    url: str
    record_dir: Path

    def recording(self, stream_key: str) -> Path:
        return self.record_dir / f"{stream_key}.flv"


def write_rtmp_config(root: Path, port: int, record_dir: Path, *, one_file_per_session: bool) -> Path:
    """An nginx-rtmp on 127.0.0.1:`port` whose application `live` records every stream to `record_dir`: one
    file per stream key (a new publish starts it again), or one per session (`<key>-<unix time>.flv`)."""
    config = root / "nginx.conf"
    THIS_RUN.watch(Place.LOG, root / "logs")
    # No access log: nginx-rtmp's names every stream key, in nginx's default one (/var/log/nginx/ on Debian).
    config.write_text(
        f"""load_module {RTMP_MODULE};
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 64; }}
rtmp {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            record all;
            record_path {record_dir};
            record_unique {"on" if one_file_per_session else "off"};
        }}
    }}
}}
"""
    )
    return config


@pytest.fixture(scope="module")
def record_dirs() -> Iterator[Callable[[str], Path]]:
    """Directories for nginx to record to, outside pytest's 0700 temp dirs (its workers run as `nobody`)."""
    made: list[Path] = []

    def make(name: str) -> Path:
        made.append(Path(tempfile.mkdtemp(prefix=f"playout-e2e-{name}-")))
        return made[-1]

    yield make
    for directory in made:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def rtmp_sink(tmp_path_factory: pytest.TempPathFactory, secret_scan: SecretScan) -> Iterator[RtmpSink]:
    _require("nginx")
    if not RTMP_MODULE.is_file():
        pytest.fail(f"{RTMP_MODULE} is missing (apt-get install libnginx-mod-rtmp)", pytrace=False)
    root = tmp_path_factory.mktemp("rtmp")
    for directory in (root / "temp", root / "logs"):
        directory.mkdir()
    # nginx started as root writes its recordings as `nobody`, who cannot enter pytest's 0700 temp dirs.
    record_dir = Path(tempfile.mkdtemp(prefix="playout-e2e-rtmp-"))
    record_dir.chmod(0o777)
    port = free_port()
    config = write_rtmp_config(root, port, record_dir, one_file_per_session=False)
    process = subprocess.Popen(
        ["nginx", "-p", str(root), "-c", str(config), "-e", str(root / "logs" / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process, 15)
        yield RtmpSink(url=f"rtmp://127.0.0.1:{port}/live", record_dir=record_dir)
    finally:
        _stop(process, signal.SIGQUIT, timeout_s=10)  # graceful: recordings are closed properly
        shutil.rmtree(record_dir, ignore_errors=True)


# --- local mode ---


@dataclass
class LocalModeProcess:
    url: str
    log_file: Path
    process: subprocess.Popen[bytes]


@contextmanager
def running_local_mode(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[LocalModeProcess]:
    """`python -m local` on a free port, logging under `root`; `extra_env` adds local mode's knobs
    (STREAM_TASK_* for the tasks, docs/contracts.md). Stopped with SIGTERM, which must exit 0."""
    _require("ffmpeg", "ffprobe")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_file = root / "local.log"
    task_inputs = root / "task-inputs.jsonl"
    # A clean environment: other suites in this worker set AWS and API variables (quota, table) at import.
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env |= {
        "PORT": str(port),
        "LOG_FILE": str(log_file),
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT / "layers"), str(REPO_ROOT / "functions"), str(REPO_ROOT)]
        ),
        "PYTHONUNBUFFERED": "1",
        "LOCAL_TASK_INPUTS_FILE": str(task_inputs),
    }
    env |= extra_env or {}
    task_inputs.touch()
    for place, path in (
        (Place.LOG, log_file),
        (Place.LOG, root / "console.log"),
        (Place.WORKFLOW_INPUT, task_inputs),
    ):
        THIS_RUN.watch(place, path)
    console = (root / "console.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "local"], cwd=REPO_ROOT, env=env, stdout=console, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LOCAL_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"local mode exited with {process.returncode}: see {root / 'console.log'}")
            try:
                if requests.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"local mode did not answer /api/health within {LOCAL_START_TIMEOUT_S} s")
            time.sleep(0.2)
        local = LocalModeProcess(url=url, log_file=log_file, process=process)
        try:
            yield local
        finally:
            if process.poll() is None:  # what lives only as long as local mode: the emulator, moto's tables
                collect_secrets_and_items(local, root / "dynamodb-items.jsonl")
    finally:
        code = _stop(process, signal.SIGTERM, timeout_s=40)
        console.close()
        assert code == 0, f"local mode exited with {code} on SIGTERM: see {root / 'console.log'}"


def collect_secrets_and_items(local: LocalModeProcess, items_file: Path) -> None:
    """Into the run's secret scan: what the YouTube emulator issued, and every item of local mode's DynamoDB
    tables (dumped to `items_file`, one JSON line each), before local mode stops and both are gone."""
    started = local_events(local, "youtube emulator started", "resources created")
    if "youtube emulator started" in started:
        THIS_RUN.add_emulator_issued(emulator_of(local).get("/issued"))
    resources = started["resources created"]
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=resources["endpoint_url"],
        region_name=LOCAL_REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    with items_file.open("w") as items:
        for table in dynamodb.list_tables()["TableNames"]:
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    items.write(json.dumps(item, default=_bytes_as_text) + "\n")
    THIS_RUN.watch(Place.STORED, items_file)


def _bytes_as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")  # every byte kept: a secret stored in binary still reads as itself
    raise TypeError(f"{type(value).__name__} is not JSON")


def local_events(local: LocalModeProcess, *messages: str) -> dict[str, dict[str, Any]]:
    """The first of each of local mode's log events named `messages` that it logged, by message."""
    found: dict[str, dict[str, Any]] = {}
    for line in local.log_file.read_text().splitlines():
        if line.startswith("{") and any(f'"{message}"' in line for message in messages):
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if event.get("message") in messages:
                    found.setdefault(event["message"], event)
    return found


@pytest.fixture(scope="session")
def local_mode(
    tmp_path_factory: pytest.TempPathFactory, secret_scan: SecretScan
) -> Iterator[LocalModeProcess]:
    with running_local_mode(tmp_path_factory.mktemp("local")) as local:
        yield local


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        browser.on("context", record_app_responses)
        try:
            yield browser
        finally:
            browser.close()


def record_app_responses(context: Any) -> None:
    """What the app in a browser context is answered by local mode's API goes to the run's secret scan, as
    an API client's does, and so do the tokens its sign-ins got from the Cognito proxy (where they belong)."""
    from playwright.sync_api import Error as PlaywrightError

    def recorded(response: Any) -> None:
        path = urlsplit(response.url).path
        if not path.startswith(("/api/", "/cognito/")):
            return
        try:
            body = response.text()
        except PlaywrightError:  # a redirect, or a page closed before its answer was read: no body to scan
            body = ""
        if path.startswith("/api/"):
            THIS_RUN.responses.add_text(
                response.request.method, response.url, response.status, response.headers, body
            )
        elif body.startswith("{"):
            with contextlib.suppress(ValueError):
                THIS_RUN.add_cognito_result(json.loads(body).get("AuthenticationResult") or {})

    context.on("response", recorded)


@pytest.fixture(scope="session")
def runtime_config(local_mode: LocalModeProcess) -> dict[str, str]:
    response = requests.get(f"{local_mode.url}/config.json", timeout=5)
    response.raise_for_status()
    return dict(response.json())


# --- users and API clients ---


@pytest.fixture(scope="session")
def response_log(secret_scan: SecretScan) -> ResponseLog:
    """Every API response of the run, to prove that no secret ever came back."""
    return secret_scan.responses


@dataclass
class User:
    email: str
    id_token: str
    user_id: str


class ApiClient:
    def __init__(self, base_url: str, user: User | None, log: ResponseLog) -> None:
        self.base_url = base_url
        self.user = user
        self._log = log
        self._session = requests.Session()
        if user is not None:
            self._session.headers["Authorization"] = f"Bearer {user.id_token}"

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if method == "POST" and path == "/api/destinations" and isinstance(body, dict):
            THIS_RUN.add_secret("RTMP stream key", str(body.get("stream_key", "")))
        response = self._session.request(
            method, f"{self.base_url}{path}", json=body, timeout=kwargs.pop("timeout", 30), **kwargs
        )
        self._log.add(response)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, body if body is not None else {}, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.request(method, path, body)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


def cognito_client(local_mode: LocalModeProcess, region: str) -> Any:
    """A client of local mode's Cognito proxy; every token it is answered goes to the run's secret scan."""
    client = boto3.client(
        "cognito-idp",
        endpoint_url=f"{local_mode.url}/cognito/",
        region_name=region,
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
    )

    def record_tokens(parsed: dict[str, Any], **_: Any) -> None:
        THIS_RUN.add_cognito_result(parsed.get("AuthenticationResult") or {})

    client.meta.events.register("after-call.cognito-idp", record_tokens)
    return client


def sign_up_and_in(local_mode: LocalModeProcess, config: dict[str, str], email: str) -> User:
    cognito = cognito_client(local_mode, config["region"])
    signed_up = cognito.sign_up(
        ClientId=config["userPoolClientId"],
        Username=email,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    assert signed_up["UserConfirmed"] is True, "local mode confirms sign-ups at once"
    tokens = cognito.initiate_auth(
        ClientId=config["userPoolClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    user = User(email=email, id_token=tokens["IdToken"], user_id=signed_up["UserSub"])
    # What the SPA does right after sign-in (and what creates the profile with the user's email).
    me = requests.get(
        f"{local_mode.url}/api/me", headers={"Authorization": f"Bearer {user.id_token}"}, timeout=30
    ).json()
    assert me["user_id"] == user.user_id, me
    assert me["email"] == email, me
    return user


@pytest.fixture(scope="session")
def make_client(
    local_mode: LocalModeProcess, response_log: ResponseLog
) -> Callable[[User | None], ApiClient]:
    return lambda user: ApiClient(local_mode.url, user, response_log)


@pytest.fixture(scope="session")
def alice(local_mode: LocalModeProcess, runtime_config: dict[str, str]) -> User:
    return sign_up_and_in(local_mode, runtime_config, f"alice-{secrets.token_hex(4)}@example.com")


@pytest.fixture(scope="session")
def bob(local_mode: LocalModeProcess, runtime_config: dict[str, str]) -> User:
    return sign_up_and_in(local_mode, runtime_config, f"bob-{secrets.token_hex(4)}@example.com")


@pytest.fixture(scope="session")
def alice_api(alice: User, make_client: Callable[[User | None], ApiClient]) -> ApiClient:
    return make_client(alice)


@pytest.fixture(scope="session")
def bob_api(bob: User, make_client: Callable[[User | None], ApiClient]) -> ApiClient:
    return make_client(bob)


@pytest.fixture(scope="module")
def dana_api(
    local_mode: LocalModeProcess,
    runtime_config: dict[str, str],
    make_client: Callable[[User | None], ApiClient],
) -> ApiClient:
    """A user of the calling module only: her storage and library are what that module made them."""
    return make_client(sign_up_and_in(local_mode, runtime_config, f"dana-{secrets.token_hex(4)}@example.com"))


@pytest.fixture(scope="session")
def make_creator(
    local_mode: LocalModeProcess,
    runtime_config: dict[str, str],
    make_client: Callable[[User | None], ApiClient],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, dict[str, tuple[float, int]]], Any]:
    """`make_creator(name, clips)`: a new user with a ready video per clip (app_pages.py's Creator)."""
    from tests.e2e.app_pages import creator_with_videos  # which imports this module

    return lambda name, clips: creator_with_videos(
        local_mode, runtime_config, make_client, tmp_path_factory.mktemp(f"{name}-clips"), name, clips
    )


def stream_task_pids(stream_id: str) -> list[int]:
    """The local launcher's stream_task processes for one stream (found by their environment contract)."""
    return launched_pids("stream_task", "STREAM_ID", stream_id)


# --- media ---


def make_clip(
    path: Path,
    seconds: float,
    *,
    tone_hz: int = 440,
    size: str = "640x360",
    gop: int = 60,
    preset: str = "veryfast",
    video_kbps: int = 1200,
) -> Path:
    """H.264 High (30 fps, a keyframe every `gop` frames, yuv420p) + AAC 48 kHz stereo, as long as each
    other: stream-ready (at a `video_kbps` within YouTube's for `size`: 1200 suits 640x360, not smaller)."""
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
            "-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=48000",
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-level", "4.0",
            "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-b:v", f"{video_kbps}k",
            "-c:a", "aac", "-ar", "48000", "-ac", "2", "-b:a", "128k",
            "-movflags", "+faststart", str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of 640x360 H.264 (30 fps, a keyframe every 2 s, yuv420p) + AAC 48 kHz stereo: stream-ready."""
    _require("ffmpeg")
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", CLIP_SECONDS)


MEDIA_JOB_TIMEOUT_S = 180  # with no progress (status or percent): a job stuck this long fails the wait
MEDIA_JOB_LIMIT_FACTOR = 4  # however it moves, no wait lasts longer than this many timeouts


def wait_for_media(
    api: ApiClient,
    media_id: str,
    timeout_s: float = MEDIA_JOB_TIMEOUT_S,
    seen: list[str] | None = None,
    interval_s: float = 0.3,
) -> dict[str, Any]:
    """Polls the media until its job is over (ready or failed); `seen` collects each status on the way.

    A job that shows no progress for `timeout_s` fails the wait. One that moves on (a new status, a higher
    percent) is waited for, up to MEDIA_JOB_LIMIT_FACTOR timeouts: with three e2e workers on two cores a
    conform's CRF search and encode can take several times what they take on a quiet machine (one of
    the seam items' was still conforming after 180 s on a loaded CI machine)."""
    seen = [] if seen is None else seen
    began = time.monotonic()
    limit = began + MEDIA_JOB_LIMIT_FACTOR * timeout_s
    progress: tuple[str, int] | None = None
    moved = began
    while True:
        media = dict(api.ok("GET", f"/api/media/{media_id}"))
        if not seen or seen[-1] != media["status"]:
            seen.append(media["status"])
        if media["status"] in ("ready", "failed"):
            return media
        now, current = time.monotonic(), (str(media["status"]), int(media.get("progress_pct") or 0))
        if current != progress:
            progress, moved = current, now
        where = f"media {media_id} went {' -> '.join(seen)} ({current[1]} %) and no further"
        assert now - moved < timeout_s, f"{where} for {timeout_s:.0f} s"
        assert now < limit, f"{where} in {now - began:.0f} s"
        time.sleep(interval_s)


def local_s3(presigned_url: str) -> tuple[Any, str]:
    """A client of local mode's S3 and its media bucket, both named by a presigned URL of it (a thumbnail's:
    path-style, the bucket first)."""
    parts = urlsplit(presigned_url)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"{parts.scheme}://{parts.netloc}",
        region_name="us-east-1",
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
    )
    return s3, parts.path.lstrip("/").split("/", 1)[0]


def all_media(api: ApiClient) -> list[dict[str, Any]]:
    """Every media of the caller's library, page after page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = api.ok("GET", "/api/media?limit=100" + (f"&cursor={quote(cursor)}" if cursor else ""))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def stored_copy(api: ApiClient, media: dict[str, Any], into: Path) -> Path:
    """The bytes a stream plays for `media` (its conformed copy, or the original when that was stream-ready),
    read from local mode's S3, whose endpoint and bucket its thumbnail URL names."""
    assert api.user is not None
    assert media["thumbnail_url"], media
    s3, bucket = local_s3(media["thumbnail_url"])
    user_id, media_id = api.user.user_id, media["media_id"]
    keys = [conformed_key(user_id, media_id), object_key(user_id, media_id)]
    for key in keys if not media["stream_ready"] else keys[1:]:
        with contextlib.suppress(s3.exceptions.NoSuchKey):
            into.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            return into
    raise AssertionError(f"nothing stored for {media['media_id']} under {keys}")


def upload_media(
    api: ApiClient, path: Path, origin: str, *, wait: bool = True, content_type: str = "video/mp4"
) -> dict[str, Any]:
    """The browser's upload: create, PUT each presigned part straight to S3 (moto), complete with ETags;
    `wait`: then until the media job has made it ready (or failed it)."""
    completed = upload_only(api, path, origin, content_type)
    return wait_for_media(api, completed["media_id"]) if wait else completed


def upload_only(api: ApiClient, path: Path, origin: str, content_type: str = "video/mp4") -> dict[str, Any]:
    data = path.read_bytes()
    created = api.ok(
        "POST",
        "/api/media",
        {"filename": path.name, "size_bytes": len(data), "content_type": content_type},
        201,
    )
    upload = created["upload"]
    part_size = int(upload["part_size"])
    parts = []
    for part in upload["parts"]:
        number = int(part["part_number"])
        chunk = data[(number - 1) * part_size : number * part_size]
        response = requests.put(part["url"], data=chunk, headers={"Origin": origin}, timeout=60)
        assert response.status_code == 200, response.text
        assert response.headers.get("Access-Control-Allow-Origin") in (origin, "*")
        assert "etag" in response.headers.get("Access-Control-Expose-Headers", "").lower()
        parts.append({"part_number": number, "etag": response.headers["ETag"]})
    return dict(api.ok("POST", f"/api/media/{created['media_id']}/complete", {"parts": parts}))


@pytest.fixture(scope="session")
def alice_media(alice_api: ApiClient, clip: Path, local_mode: LocalModeProcess) -> dict[str, Any]:
    media = upload_media(alice_api, clip, local_mode.url)
    assert media["status"] == "ready", media
    return media


# --- streams ---


@pytest.fixture(scope="session")
def stream_keys() -> list[str]:
    """Every stream key the run used (secrets that must never come back out)."""
    return []


def new_stream_key(stream_keys: list[str]) -> str:
    key = f"sk-e2e-{secrets.token_hex(8)}"
    stream_keys.append(key)
    THIS_RUN.add_secret("RTMP stream key", key)
    return key


def wait_for_status(
    api: ApiClient, stream_id: str, wanted: set[str], timeout_s: float, interval_s: float = 0.2
) -> tuple[dict[str, Any], float]:
    """Polls the stream until its status is one of `wanted`; returns it and the monotonic time seen."""
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while True:
        stream = api.ok("GET", f"/api/streams/{stream_id}")
        now = time.monotonic()
        if not seen or seen[-1] != stream["status"]:
            seen.append(stream["status"])
        if stream["status"] in wanted:
            return stream, now
        if stream["status"] == "failed" or now > deadline:
            events = api.ok("GET", f"/api/streams/{stream_id}/events")
            raise AssertionError(
                f"stream {stream_id} went {' -> '.join(seen)}, not {wanted}: {stream.get('error')}; events: "
                + json.dumps([(e.get("type"), e.get("message")) for e in events["items"]])
            )
        time.sleep(interval_s)


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout_s:.0f} s"
        time.sleep(interval_s)


# --- YouTube: local mode's emulator ---


@dataclass(frozen=True)
class Emulator:
    """Local mode's YouTube emulator, as its log announces it: its test controls (`/emulator`), the authority
    of its TLS, and where its ingest records every publishing session."""

    controls: str
    ca_certificate: str
    recordings: Path

    def get(self, path: str) -> dict[str, Any]:
        response = requests.get(self.controls + path, timeout=10, verify=self.ca_certificate)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            self.controls + path, json=body or {}, timeout=10, verify=self.ca_certificate
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def bound_stream(self, broadcast_id: str) -> dict[str, Any]:
        """The liveStream a broadcast is bound to (asked by its id: its stream name is the ingest's key)."""
        return self.get(f"/streams/{self.get(f'/broadcasts/{broadcast_id}')['boundStreamId']}")

    def life_cycle(self, broadcast_id: str) -> str:
        return str(self.get(f"/broadcasts/{broadcast_id}")["lifeCycleStatus"])


def emulator_of(local: LocalModeProcess) -> Emulator:
    started = local_events(local, "youtube emulator started").get("youtube emulator started")
    assert started is not None, "local mode did not start its YouTube emulator (it does by default)"
    return Emulator(started["controls"], started["ca_certificate"], Path(started["recordings"]))


@pytest.fixture(scope="module")
def emulator(local_mode: LocalModeProcess) -> Emulator:
    return emulator_of(local_mode)


def connect_channel(api: ApiClient, emulator: Emulator, account: str = "") -> dict[str, Any]:
    """Connects a channel as the README does it by hand, without a browser: the API's connect (its cookie
    kept by the client's session), the emulator's consent page and its Allow (`account`: an email of one of
    its accounts; the first by default), then the callback. Returns the destination."""
    authorization_url = api.ok("POST", "/api/youtube/connect")["authorization_url"]
    page = requests.get(authorization_url, timeout=10, verify=emulator.ca_certificate)
    assert page.status_code == 200, page.text
    consent = re.findall(r'name="consent" value="([^"]+)"', page.text)[0]
    accounts = re.findall(r'name="account" value="([^"]+)"', page.text)
    chosen = account or accounts[0]
    assert chosen in accounts, accounts
    decided = requests.post(
        authorization_url.split("/o/oauth2/", 1)[0] + "/o/oauth2/v2/auth/consent",
        data={"consent": consent, "account": chosen, "decision": "allow"},
        allow_redirects=False,
        timeout=10,
        verify=emulator.ca_certificate,
    )
    assert decided.status_code == 302, decided.text
    back = api.request("GET", decided.headers["Location"].removeprefix(api.base_url), allow_redirects=False)
    assert back.status_code == 302, back.text
    outcome = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).fragment).items()}
    assert outcome.get("youtube") == "connected", outcome
    return dict(api.ok("GET", f"/api/destinations/{outcome['destination_id']}"))
