"""The stream task in its own image (stream_task/Dockerfile), built and run with podman on this machine, as
Fargate runs it: the same entry point, user and environment contract, `--network host` to reach local mode's
moto, gateway and YouTube emulator on 127.0.0.1, and SIGTERM then SIGKILL after the stop timeout.

How podman runs here (root, Debian's podman with runc: crun fails on these machines' cgroups; a
containers.conf without default ulimits) is `Podman`. No registry image can be pulled, so the base is Debian
bookworm made with mmdebstrap from the Debian mirror (`ensure_base_image`), and the engine's ffmpeg is the one
make built on this machine with the same script (build/ffmpeg-stream), given to the Dockerfile's
`task-host-ffmpeg` target instead of being compiled again. The store lives under build/podman.

`python -m local.task_container build` builds the image; `python -m local.task_container run IMAGE` is what
local mode's launcher runs as the stream task when LOCAL_TASK_IMAGE names an image (docs/contracts.md)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from playout.resources import IMAGE_CONTEXT_EXCLUDES, TASK_STOP_TIMEOUT_S

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
STORE: Final = REPO_ROOT / "build" / "podman"
DOCKERFILE: Final = REPO_ROOT / "stream_task" / "Dockerfile"
ENGINE_FFMPEG_DIR: Final = REPO_ROOT / "build" / "ffmpeg-stream"
IMAGE: Final = "localhost/playout-stream-task:local"
BASE_IMAGE: Final = "localhost/playout-bookworm-python:base"
LOCAL_TARGET: Final = "task-host-ffmpeg"
HOST_ENGINE_CONTEXT: Final = "host-engine-ffmpeg"
DEBIAN_PACKAGES: Final = ("podman", "runc", "catatonit", "mmdebstrap")
INSTALL_COMMAND: Final = f"apt-get update && apt-get install -y {' '.join(DEBIAN_PACKAGES)}"
_TOOLS: Final = ("podman", "runc", "mmdebstrap")
# What the Dockerfile asks of its base besides Debian: python3 with its venv module (the task's packages go to
# a virtual environment), and the certificate authorities.
BASE_PACKAGES: Final = ("python3", "python3-venv", "ca-certificates")
DEBIAN_SOURCES: Final = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# The authorities this machine added to its own trust (an egress proxy that inspects TLS): pip inside the
# build reaches PyPI through them.
_TRUST_HOST_AUTHORITIES: Final = (
    'for ca in /usr/local/share/ca-certificates/*.crt; do [ -e "$ca" ] && cp "$ca" '
    '"$1/usr/local/share/ca-certificates/"; done; chroot "$1" update-ca-certificates >/dev/null'
)
STREAM_LABEL: Final = "playout.stream_id"
RUN_LABEL: Final = "playout.run_id"
# The launcher's environment that is the podman client's own, not the task's: the image sets these.
CLIENT_ENVIRONMENT: Final = frozenset(
    {"PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "CONTAINERS_CONF", "PYTHONPATH"}
    | {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
)
# Files the task's environment names on this machine, mounted read-only at the same path.
MOUNTED_FILES: Final = ("YOUTUBE_CA_BUNDLE",)


class PodmanMissing(RuntimeError):
    pass


def require_tools() -> None:
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        raise PodmanMissing(f"{', '.join(missing)} missing: run `{INSTALL_COMMAND}` (make system-deps does)")


@dataclass(frozen=True)
class Podman:
    """podman as it runs on these machines, with a store of its own under `store`."""

    store: Path = STORE

    @property
    def _state_dir(self) -> Path:
        # Run state belongs on a tmpfs (it must not outlive a reboot): one directory per store.
        digest = hashlib.sha256(str(self.store.resolve()).encode()).hexdigest()[:12]
        return Path("/run/playout-podman") / digest

    def command(self, *args: str) -> list[str]:
        return [
            "podman",
            "--root", str(self.store / "storage"),
            "--runroot", str(self._state_dir / "run"),
            "--tmpdir", str(self._state_dir / "tmp"),
            "--runtime", "runc",
            "--cgroup-manager", "cgroupfs",
            *args,
        ]  # fmt: skip

    def environment(self, base: Mapping[str, str] = os.environ) -> dict[str, str]:
        config = self.store / "containers.conf"
        if not config.is_file():
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text("[containers]\ndefault_ulimits = []\n")
        return {**base, "CONTAINERS_CONF": str(config)}

    def run(self, *args: str, timeout_s: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"podman {' '.join(args[:2])} exited {result.returncode}: {result.stderr[-3000:]}"
            )
        return result

    def image_exists(self, image: str) -> bool:
        return self.run("image", "exists", image, check=False).returncode == 0


def ensure_base_image(podman: Podman) -> None:
    """Debian bookworm (minbase) with what the Dockerfile asks of its base, as `BASE_IMAGE`: made once with
    mmdebstrap (about 40 s) and kept as a tarball beside the store."""
    if podman.image_exists(BASE_IMAGE):
        return
    tarball = podman.store / "bookworm-python.tar"
    if not tarball.is_file():
        partial = tarball.with_suffix(".partial.tar")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                f"--customize-hook={_TRUST_HOST_AUTHORITIES}",
                "bookworm", str(partial), *DEBIAN_SOURCES,
            ],
            check=True,
            timeout=900,
        )  # fmt: skip
        partial.rename(tarball)
    podman.run("import", str(tarball), BASE_IMAGE)


def build_image(podman: Podman, image: str = IMAGE) -> float:
    """Builds stream_task/Dockerfile's local target on the mmdebstrap base with this machine's engine ffmpeg;
    returns the seconds it took (the base included, when it had to be made)."""
    require_tools()
    if not (ENGINE_FFMPEG_DIR / "bin" / "ffmpeg").is_file():
        raise RuntimeError(
            "the stream engine's ffmpeg is not built: run `make build/ffmpeg-stream/bin/ffmpeg`"
        )
    started = time.monotonic()
    ensure_base_image(podman)
    ignore_file = podman.store / "context.dockerignore"  # the context CDK's source asset sends
    ignore_file.write_text("\n".join(IMAGE_CONTEXT_EXCLUDES) + "\n")
    podman.run(
        "build", "--network", "host", "--file", str(DOCKERFILE), "--ignorefile", str(ignore_file),
        "--build-arg", f"PYTHON_BASE={BASE_IMAGE}",
        "--target", LOCAL_TARGET, "--build-context", f"{HOST_ENGINE_CONTEXT}={ENGINE_FFMPEG_DIR}",
        "--tag", image, str(REPO_ROOT),
        timeout_s=1800,
    )  # fmt: skip
    return time.monotonic() - started


def task_command(image: str) -> list[str]:
    """What local mode's launcher runs as the stream task to run it in `image`."""
    return [sys.executable, "-m", "local.task_container", "run", image]


def run_argv(podman: Podman, image: str, name: str, environ: Mapping[str, str]) -> list[str]:
    """`podman run` of one task: every variable of the task's environment but the client's own is passed by
    name (podman reads its value from its own environment: no value on a command line), as a task
    definition's environment."""
    passed = sorted(name for name in environ if name not in CLIENT_ENVIRONMENT)
    mounts = [
        f"--volume={environ[variable]}:{environ[variable]}:ro"
        for variable in MOUNTED_FILES
        if environ.get(variable) and Path(environ[variable]).is_file()
    ]
    labels = [
        f"--label={STREAM_LABEL}={environ.get('STREAM_ID', '')}",
        f"--label={RUN_LABEL}={environ['RUN_ID']}",
    ]
    return podman.command(
        "run", "--rm", "--init", "--name", name, "--network", "host", "--sig-proxy=false",
        f"--stop-timeout={TASK_STOP_TIMEOUT_S}", *labels, *mounts,
        *(f"--env={variable}" for variable in passed),
        image,
    )  # fmt: skip


def run_task(image: str, environ: Mapping[str, str], podman: Podman | None = None) -> int:
    """Runs one stream task in `image` until it exits; returns its exit code (143 for SIGTERM, 137 for
    SIGKILL, as ECS reports them). SIGTERM to this process is ECS's StopTask: `podman stop` with the stop
    timeout (the image's STOPSIGNAL, then SIGKILL)."""
    podman = podman or Podman()
    name = f"playout-task-{environ['RUN_ID']}-{secrets.token_hex(3)}"
    process = subprocess.Popen(run_argv(podman, image, name, environ), env=podman.environment(environ))

    def stop() -> None:
        podman.run(
            "stop", "--time", str(TASK_STOP_TIMEOUT_S), name, timeout_s=TASK_STOP_TIMEOUT_S + 30, check=False
        )

    def on_sigterm(signum: int, frame: object) -> None:
        threading.Thread(target=stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    return process.wait()


def main(argv: Sequence[str]) -> int:
    match list(argv):
        case ["build"]:
            print(f"built {IMAGE} in {build_image(Podman()):.1f} s")
            return 0
        case ["run", image]:
            return run_task(image, os.environ)
        case _:
            print("usage: python -m local.task_container build | run IMAGE", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
