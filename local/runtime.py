"""Local mode's lifecycle: moto, resources, the API handler's environment, the launcher and the gateway."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from werkzeug.serving import BaseWSGIServer, make_server

from local import resources as local_resources
from local.hosts import ServedHostsOnly
from local.launcher import LocalLauncher
from local.logs import LogSink
from local.moto_server import serve_moto
from local.scheduler import LocalScheduler
from local.task_container import task_command as container_task_command
from local.task_image import image_env

if TYPE_CHECKING:
    from local.youtube_emulator import RunningEmulator

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
WEB_DIR: Final = REPO_ROOT / "web"
HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
DUMMY_CREDENTIALS: Final = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# Variables a developer may set to tune the stream task locally (its own settings), passed through as-is, and
# where YouTube answers (the emulator's, or a real Google client's), which the task reads as the API does.
TASK_ENV_PASSTHROUGH_PREFIXES: Final = ("STREAM_TASK_", "FFMPEG", "YOUTUBE_")
# Local mode's own knobs (docs/contracts.md, "Local mode knobs"): where the tasks' DynamoDB calls go (a proxy
# that injects faults, say), and the command the launcher runs as the stream task.
TASK_DYNAMODB_ENDPOINT_VAR: Final = "STREAM_TASK_DYNAMODB_ENDPOINT"
TASK_COMMAND_VAR: Final = "LOCAL_TASK_COMMAND"
# An image of stream_task/Dockerfile (local/task_container.py builds one): the launcher runs each stream task
# in it with podman, as Fargate would, instead of as a process of this machine.
TASK_IMAGE_VAR: Final = "LOCAL_TASK_IMAGE"
# Where the launcher appends each task's launch (command, overrides): the workflow inputs a test audits.
TASK_INPUTS_FILE_VAR: Final = "LOCAL_TASK_INPUTS_FILE"
# Whether links to this machine can be imported: yes by default (the tests serve the files they import from
# here); "false" refuses them as in AWS, at the API and in the media jobs alike.
ALLOW_LOOPBACK_IMPORTS_VAR: Final = "LOCAL_ALLOW_LOOPBACK_IMPORTS"
_FLAG_WORDS: Final = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}
# Google's OAuth and the YouTube Live API are local/youtube_emulator (see _start_youtube_emulator): "on" by
# default; "off" by default when a real Google OAuth client is given (YOUTUBE_CLIENT_ID and
# YOUTUBE_CLIENT_SECRET in the environment), which local mode then talks to.
YOUTUBE_EMULATOR_VAR: Final = "LOCAL_YOUTUBE_EMULATOR"
YOUTUBE_ARCHIVE_LIMIT_VAR: Final = "LOCAL_YOUTUBE_ARCHIVE_LIMIT_S"
GOOGLE_CLIENT_VAR: Final = "YOUTUBE_CLIENT_ID"


@dataclass
class LocalMode:
    port: int = DEFAULT_PORT
    log_file: str | None = None
    web_dist: Path = WEB_DIR / "dist"
    build_web: bool = True
    allow_loopback_imports: bool = True
    log: LogSink = field(init=False)
    url: str = field(init=False, default="")
    resources: local_resources.LocalResources | None = field(init=False, default=None)
    launcher: LocalLauncher | None = field(init=False, default=None)
    scheduler: LocalScheduler | None = field(init=False, default=None)
    youtube: RunningEmulator | None = field(init=False, default=None)
    _youtube_emulator: contextlib.ExitStack = field(init=False, default_factory=contextlib.ExitStack)
    _moto: BaseWSGIServer | None = field(init=False, default=None)
    _server: BaseWSGIServer | None = field(init=False, default=None)
    _server_thread: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.log = LogSink(self.log_file)

    def start(self) -> str:
        self.log.capture_process_output()
        if self.build_web:
            ensure_web_build(self.web_dist, self.log)

        # The gateway's socket first: the bucket's CORS rule needs the app's origin (PORT=0: a free port).
        app = _LateApp()
        served = ServedHostsOnly(app)  # no other Host: a page rebound to 127.0.0.1 reads nothing
        self._server = make_server(HOST, self.port, served, threaded=True)
        self.port = self._server.server_port
        served.port = self.port
        self.url = f"http://{HOST}:{self.port}"
        self._server_thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)
        self._server_thread.start()  # answers 503 until the gateway is in place

        # Presigned URLs are signed with the credentials every client of local mode is given.
        self._moto = serve_moto(
            HOST, {DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]: DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
        )
        endpoint_url = f"http://{HOST}:{self._moto.server_port}"
        _point_aws_at(endpoint_url)

        self.resources = res = local_resources.create_all(endpoint_url, origin=self.url)
        self.log.event(
            "resources created",
            endpoint_url=endpoint_url,
            table=res.table_name,
            bucket=res.media_bucket,
            user_pool_id=res.user_pool_id,
        )

        lambda_env = {
            "TABLE_NAME": res.table_name,
            "MEDIA_BUCKET": res.media_bucket,
            "KEY_ID": res.key_id,
            "USER_POOL_ID": res.user_pool_id,
            "S3_ADDRESSING_STYLE": "path",
            "ALLOW_LOOPBACK_INGESTS": "true",  # the RTMP sinks and the YouTube emulator run on this machine
            "ALLOW_LOOPBACK_IMPORTS": _flag(self.allow_loopback_imports),  # see ALLOW_LOOPBACK_IMPORTS_VAR
            "APP_ORIGIN": self.url,  # where Google's redirect comes back to, then the SPA
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "Playout",
            "POWERTOOLS_SERVICE_NAME": "playout",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        }
        lambda_env |= self._start_youtube_emulator()
        os.environ.update(lambda_env)
        _reset_domain_caches(res)

        from playout import launcher as playout_launcher
        from playout import schedules

        inputs_file = os.environ.get(TASK_INPUTS_FILE_VAR)
        self.launcher = LocalLauncher(
            task_env=self._task_env(res),
            log=self.log,
            command=task_command(),
            cwd=REPO_ROOT,
            inputs_file=Path(inputs_file) if inputs_file else None,
        )
        playout_launcher.set_launcher(self.launcher)
        self.launcher.start_watchdog()
        self.scheduler = LocalScheduler(log=self.log)
        schedules.set_scheduler(self.scheduler)
        self.scheduler.start()

        import boto3

        from api.handler import lambda_handler  # after the environment: its settings validate at import
        from local.gateway import Gateway

        cognito = boto3.client("cognito-idp", endpoint_url=endpoint_url, region_name=res.region)
        app.target = Gateway(
            resources=res,
            handler=lambda_handler,
            web_dist=self.web_dist,
            origin=self.url,
            cognito=cognito,
            log=self.log,
        )
        self.log.event("local mode ready", url=self.url)
        return self.url

    def _start_youtube_emulator(self) -> dict[str, str]:
        """Google is the emulator (its OAuth client registered for this origin's callback) unless
        LOCAL_YOUTUBE_EMULATOR=off, or a real client is given; the API's and the tasks' settings say where it
        answers."""
        if not youtube_emulator_wanted(os.environ):
            if os.environ.get(GOOGLE_CLIENT_VAR):
                self.log.event("youtube: a Google OAuth client is configured; talking to Google")
            return {}
        from local.youtube_emulator.local_mode import api_settings, emulator_for

        limit_s = youtube_archive_limit_s(os.environ)
        self.youtube = self._youtube_emulator.enter_context(emulator_for(self.url, self.log, limit_s))
        self.log.event(
            "youtube emulator started",
            **self.youtube.urls.as_dict(),
            recordings=str(self.youtube.recordings_dir),
            archive_limit_s=limit_s,
        )
        return api_settings(self.youtube)

    def _task_env(self, res: local_resources.LocalResources) -> dict[str, str]:
        from playout.settings import get_settings

        python_path = [str(REPO_ROOT / "layers"), str(REPO_ROOT)]
        if os.environ.get("PYTHONPATH"):
            python_path.append(os.environ["PYTHONPATH"])
        env = {
            # the task definition's environment (infra/constructs/streaming.py) ...
            "TABLE_NAME": res.table_name,
            "MEDIA_BUCKET": res.media_bucket,
            "POWERTOOLS_SERVICE_NAME": "playout-stream",
            # ... what the container image and the task role provide in AWS ...
            "AWS_ENDPOINT_URL": res.endpoint_url,
            "AWS_DEFAULT_REGION": res.region,
            "AWS_REGION": res.region,
            "S3_ADDRESSING_STYLE": "path",
            "ALLOW_LOOPBACK_INGESTS": "true",
            "ALLOW_LOOPBACK_IMPORTS": _flag(self.allow_loopback_imports),
            "STORAGE_QUOTA_BYTES": str(get_settings().storage_quota_bytes),  # the API's, as in the stack
            **({} if task_image() else image_env()),  # a container has its image's
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join(python_path),
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **DUMMY_CREDENTIALS,
        }
        for name, value in os.environ.items():
            if name.startswith(TASK_ENV_PASSTHROUGH_PREFIXES):
                env[name] = value
        if os.environ.get(TASK_DYNAMODB_ENDPOINT_VAR):
            # botocore's per-service endpoint: only DynamoDB moves, S3 and KMS stay on moto.
            env["AWS_ENDPOINT_URL_DYNAMODB"] = os.environ[TASK_DYNAMODB_ENDPOINT_VAR]
        return env

    def stop(self) -> None:
        """Stops everything start() started, newest first; safe to call more than once."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._server_thread is not None:
                self._server_thread.join(timeout=10)
            self._server = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.launcher is not None:
            self.launcher.stop_all()
            self.launcher = None
        self._youtube_emulator.close()  # after the tasks that may push to its ingest
        self.youtube = None
        if self._moto is not None:
            # moto keeps its state per process, not per server: a local mode started later in this
            # process (tests, benchmarks) begins empty, as a new `make local` does.
            with contextlib.suppress(OSError):
                urllib.request.urlopen(
                    urllib.request.Request(
                        f"http://{HOST}:{self._moto.server_port}/moto-api/reset", method="POST"
                    ),
                    timeout=10,
                ).close()
            self._moto.shutdown()
            self._moto.server_close()
            self._moto = None
        self.log.event("local mode stopped")
        self.log.close()


def youtube_emulator_wanted(environ: Mapping[str, str]) -> bool:
    """LOCAL_YOUTUBE_EMULATOR as a flag: on unless a Google client is configured; ValueError for a word that
    is not a flag."""
    default = "off" if environ.get(GOOGLE_CLIENT_VAR) else "on"
    word = environ.get(YOUTUBE_EMULATOR_VAR, default).strip().lower()
    if word not in _FLAG_WORDS:
        raise ValueError(f"{YOUTUBE_EMULATOR_VAR} must be on or off, not {word!r}")
    return _FLAG_WORDS[word]


def youtube_archive_limit_s(environ: Mapping[str, str]) -> float:
    """LOCAL_YOUTUBE_ARCHIVE_LIMIT_S: how long an emulated broadcast may be live and still be archived
    (YouTube's 12 hours by default); ValueError for anything but a positive number of seconds."""
    text = environ.get(YOUTUBE_ARCHIVE_LIMIT_VAR, "").strip()
    if not text:
        return 12 * 3600.0
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{YOUTUBE_ARCHIVE_LIMIT_VAR} must be a positive number of seconds, not {text!r}")
    return value


def loopback_imports_allowed(environ: Mapping[str, str]) -> bool:
    """LOCAL_ALLOW_LOOPBACK_IMPORTS as a flag (true when unset); ValueError for a word that is not one."""
    word = environ.get(ALLOW_LOOPBACK_IMPORTS_VAR, "true").strip().lower()
    if word not in _FLAG_WORDS:
        raise ValueError(f"{ALLOW_LOOPBACK_IMPORTS_VAR} must be true or false, not {word!r}")
    return _FLAG_WORDS[word]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def task_image() -> str:
    return os.environ.get(TASK_IMAGE_VAR, "").strip()


def task_command() -> list[str]:
    """`python -m stream_task` with this interpreter, LOCAL_TASK_COMMAND (split as a shell would), or the
    task in the container image LOCAL_TASK_IMAGE names."""
    custom, image = os.environ.get(TASK_COMMAND_VAR, "").strip(), task_image()
    if custom and image:
        raise ValueError(f"{TASK_COMMAND_VAR} and {TASK_IMAGE_VAR} both name the stream task: set one")
    if image:
        return container_task_command(image)
    return shlex.split(custom) if custom else [sys.executable, "-m", "stream_task"]


class _LateApp:
    """A WSGI app whose target is set once the resources exist (the socket is bound before)."""

    target: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.target is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "1")])
            return [b"starting"]
        return self.target(environ, start_response)


def _point_aws_at(endpoint_url: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_DEFAULT_REGION=local_resources.REGION,
        AWS_REGION=local_resources.REGION,
        **DUMMY_CREDENTIALS,
    )


def _reset_domain_caches(res: local_resources.LocalResources) -> None:
    from playout import aws
    from playout.models import bind_table
    from playout.settings import get_settings, get_youtube_settings
    from playout.youtube.google import project_for

    aws.reset_clients()
    get_settings.cache_clear()
    get_youtube_settings.cache_clear()
    project_for.cache_clear()
    bind_table(res.table_name, res.region)


def ensure_web_build(web_dist: Path, log: LogSink) -> None:
    """Builds web/dist when it is missing (`npm ci` first when node_modules is missing too)."""
    if (web_dist / "index.html").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        log.event(
            "web build missing and npm not found: only /api and /config.json will answer",
            web_dist=str(web_dist),
        )
        return
    web_dir = web_dist.parent
    steps = [] if (web_dir / "node_modules").is_dir() else [[npm, "ci", "--no-audit", "--no-fund"]]
    steps.append([npm, "run", "build"])
    for step in steps:
        log.event("building the web app", command=" ".join(step[1:]))
        result = subprocess.run(step, cwd=web_dir, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log.line(result.stdout[-4000:] + result.stderr[-4000:])
            log.event("web build failed", command=" ".join(step[1:]), exit_code=result.returncode)
            return
