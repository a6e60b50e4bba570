"""The figures: each is ours against a baseline measured side by side in the same run, as a ratio, with
the target it is held to. Printed as a table and written as JSON for whoever tracks them over time."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    measure: str
    ours: float
    baseline: float
    unit: str
    ratio: float
    ratio_of: str  # what the ratio divides, e.g. "transcode / copy"
    target: str
    met: bool | None  # None: no target to meet
    ours_label: str = "ours"
    baseline_label: str = "baseline"
    details: dict[str, Any] = field(default_factory=dict)


def _number(value: float, unit: str) -> str:
    precision = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
    return f"{value:.{precision}f} {unit}".strip()


def table(figures: Sequence[Figure]) -> str:
    header = ("measure", "ours", "baseline", "ratio", "target", "met")
    rows = [
        (
            f.measure,
            f"{f.ours_label} {_number(f.ours, f.unit)}",
            f"{f.baseline_label} {_number(f.baseline, f.unit)}",
            f"{f.ratio_of} = {f.ratio:.2f}",
            f.target,
            "—" if f.met is None else "yes" if f.met else "NO",
        )
        for f in figures
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    rule = "  ".join("-" * width for width in widths)
    head = "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    return "\n".join([head, rule, *lines])


def _ffmpeg_version() -> str:
    try:
        first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return first.splitlines()[0] if first else "unknown"


def write_json(
    path: Path, figures: Sequence[Figure], *, quick: bool, started: datetime, wall_s: float
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "started_at": started.isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 1),
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "ffmpeg": _ffmpeg_version(),
        },
        "all_met": all(f.met is not False for f in figures),
        "figures": [asdict(f) for f in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def now() -> datetime:
    return datetime.now(UTC)
