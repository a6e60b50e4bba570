"""Build the Lambda layer directory `build/layer/python/` without Docker.

The layer holds Linux arm64 wheels for the Lambda's Python (not this machine's), installed with
`pip --platform`, plus the `playout` domain package copied from `layers/playout`.

The pip step is skipped when the stamp file records the hash of `layers/requirements.txt`
(and the target settings); `playout` is always re-copied because that is cheap.

    python -m infra.layer_build [--force]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
REQUIREMENTS: Final = REPO_ROOT / "layers" / "requirements.txt"
DOMAIN_PACKAGE: Final = REPO_ROOT / "layers" / "playout"
LAYER_DIR: Final = REPO_ROOT / "build" / "layer"
SITE_DIR: Final = LAYER_DIR / "python"
STAMP: Final = LAYER_DIR / ".requirements.sha256"

# Must match the API Lambda's runtime and architecture (infra/constructs/api.py).
LAMBDA_PYTHON_VERSION: Final = "3.12"
WHEEL_PLATFORM: Final = "manylinux2014_aarch64"

# Pulled in transitively (pynamodb, aws-xray-sdk) but provided by the Lambda runtime: a second copy in
# /opt/python would shadow the runtime's botocore that its boto3 is pinned to, and costs 30 MB.
RUNTIME_PROVIDED: Final = ("boto3", "botocore", "s3transfer")
# google-api-python-client ships ~110 MB of discovery documents; the layer keeps only the APIs we call
# (the 250 MB unzipped limit of function + layers is otherwise within reach).
KEPT_DISCOVERY_DOCUMENTS: Final = ("youtube.v3.json", "oauth2.v2.json", "index.json")


def _requirements_fingerprint() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(f"{LAMBDA_PYTHON_VERSION}|{WHEEL_PLATFORM}".encode())
    return digest.hexdigest()


def _dependencies_are_current(fingerprint: str) -> bool:
    return STAMP.is_file() and SITE_DIR.is_dir() and STAMP.read_text().strip() == fingerprint


def _install_dependencies() -> None:
    if SITE_DIR.exists():
        shutil.rmtree(SITE_DIR)
    SITE_DIR.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(SITE_DIR),
            "--platform",
            WHEEL_PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--only-binary=:all:",
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    _prune_site_dir()


def _prune_site_dir() -> None:
    for name in RUNTIME_PROVIDED:
        shutil.rmtree(SITE_DIR / name, ignore_errors=True)
        for dist_info in SITE_DIR.glob(f"{name}-*.dist-info"):
            shutil.rmtree(dist_info, ignore_errors=True)
    documents = SITE_DIR / "googleapiclient" / "discovery_cache" / "documents"
    if documents.is_dir():
        for document in documents.iterdir():
            if document.name not in KEPT_DISCOVERY_DOCUMENTS:
                document.unlink()
    # Bytecode compiled for this machine's Python is useless in the layer.
    for cache_dir in SITE_DIR.rglob("__pycache__"):
        shutil.rmtree(cache_dir, ignore_errors=True)


def _copy_domain_package() -> None:
    """Swap in a fresh copy of `layers/playout` (copied aside, then renamed: no reader sees half a tree)."""
    target = SITE_DIR / "playout"
    fresh = SITE_DIR / ".playout.new"
    stale = SITE_DIR / ".playout.old"
    for leftover in (fresh, stale):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(DOMAIN_PACKAGE, fresh, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if target.exists():
        target.rename(stale)
    fresh.rename(target)
    shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def _exclusive_build_lock() -> Iterator[None]:
    """Parallel test workers (pytest-xdist) and a concurrent `make` may build at once: one at a time."""
    LAYER_DIR.mkdir(parents=True, exist_ok=True)
    with (LAYER_DIR.parent / ".layer.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def build_layer(force: bool = False) -> Path:
    """Build (or refresh) the layer directory and return it (the asset path for `Code.from_asset`)."""
    with _exclusive_build_lock():
        fingerprint = _requirements_fingerprint()
        if force or not _dependencies_are_current(fingerprint):
            _install_dependencies()
            STAMP.write_text(fingerprint + "\n")
        _copy_domain_package()
    return LAYER_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--force", action="store_true", help="reinstall dependencies even if the stamp matches"
    )
    args = parser.parse_args(argv)
    print(f"layer built at {build_layer(force=args.force)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
