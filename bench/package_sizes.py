"""What Lambda loads: the dependency layer (build/layer, made by `python -m infra.layer_build`) and each
function asset, as the CDK app packages them (infra/constructs: the same directories, the same excludes),
zipped here with deflate as the CDK does. Baseline: Lambda's limits, 250 MB unzipped for a function and its
layers together, 50 MB zipped for an upload."""

from __future__ import annotations

import fnmatch
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import REPO_ROOT
from bench.report import Figure

MIB = 1024**2  # Lambda counts its "250 MB" as 262,144,000 bytes: MiB
UNZIPPED_LIMIT_BYTES = 250 * MIB  # function + all its layers, unzipped
ZIPPED_LIMIT_BYTES = 50 * MIB  # a zip uploaded directly
PYTHON_CACHES = ("__pycache__", "*.pyc")


@dataclass(frozen=True)
class Asset:
    name: str
    directory: Path
    excludes: Sequence[str] = PYTHON_CACHES


LAYER = Asset("dependency layer", REPO_ROOT / "build" / "layer", ())
FUNCTIONS = (
    # The API, the scheduled start and the watchdog share one asset (infra/constructs/api.py, functions.py).
    Asset("functions/ (api, scheduled_start, stream_watchdog)", REPO_ROOT / "functions"),
    Asset("image build handler", REPO_ROOT / "infra" / "image_build"),
)


@dataclass(frozen=True)
class Size:
    unzipped: int
    zipped: int
    files: int


def _files(asset: Asset) -> Iterator[Path]:
    for path in sorted(asset.directory.rglob("*")):
        relative = path.relative_to(asset.directory)
        if any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in asset.excludes):
            continue
        if path.is_file():
            yield path


def size_of(asset: Asset) -> Size:
    """The asset's bytes as files, and as the zip the CDK would upload (deflate, in memory)."""
    buffer = io.BytesIO()
    unzipped = files = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in _files(asset):
            archive.write(path, path.relative_to(asset.directory))
            unzipped += path.stat().st_size
            files += 1
    return Size(unzipped, len(buffer.getvalue()), files)


def measure() -> list[Figure]:
    if not (LAYER.directory / "python").is_dir():
        raise RuntimeError("no build/layer: run `python -m infra.layer_build` first (make synth does)")
    layer = size_of(LAYER)
    functions = {asset.name: size_of(asset) for asset in FUNCTIONS}
    api = functions[FUNCTIONS[0].name]
    figures = [
        Figure(
            measure="API Lambda unzipped: function + layer",
            ours=(api.unzipped + layer.unzipped) / MIB,
            baseline=UNZIPPED_LIMIT_BYTES / MIB,
            unit="MiB",
            ratio=(api.unzipped + layer.unzipped) / UNZIPPED_LIMIT_BYTES,
            ratio_of="ours/limit",
            target="<= Lambda's 250 MiB",
            met=api.unzipped + layer.unzipped <= UNZIPPED_LIMIT_BYTES,
            ours_label="function+layer",
            baseline_label="limit",
            details={"layer_files": layer.files, "function_files": api.files},
        )
    ]
    for name, size in [(LAYER.name, layer), *functions.items()]:
        figures.append(
            Figure(
                measure=f"Zipped: {name}",
                ours=size.zipped / MIB,
                baseline=ZIPPED_LIMIT_BYTES / MIB,
                unit="MiB",
                ratio=size.zipped / ZIPPED_LIMIT_BYTES,
                ratio_of="ours/limit",
                target="<= 50 MiB zip",
                met=size.zipped <= ZIPPED_LIMIT_BYTES,
                ours_label="zip",
                baseline_label="limit",
                details={"unzipped_mib": round(size.unzipped / MIB, 2), "files": size.files},
            )
        )
    return figures
