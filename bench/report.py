"""The figures: each is ours against a baseline measured side by side in the same run, as a ratio, with
the target it is held to. Printed as one table and written to bench/report.json for whoever tracks them
over time. Each figure belongs to a part of the benchmark (`python -m bench --only PART`): a run of some
parts replaces their figures in the report and keeps the other parts' from the run that made them."""

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
    part: str = ""  # the part of the benchmark that measured it (bench.__main__.PARTS)


def _number(value: float, unit: str) -> str:
    if isinstance(value, int):  # a count
        return f"{value} {unit}".strip()
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


def _earlier(path: Path) -> dict[str, Any]:
    """The report as the last run left it; nothing if there is none or it cannot be read."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def write_json(
    path: Path,
    figures: Sequence[Figure],
    *,
    parts: Sequence[str],
    quick: bool,
    started: datetime,
    wall_s: float,
) -> dict[str, Any]:
    """Writes the report: this run's figures (of `parts`), and the figures of every other part as an earlier
    run left them, each part with the run that measured it. Returns the document written."""
    earlier = _earlier(path)
    run = {
        "started_at": started.isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 1),
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "ffmpeg": _ffmpeg_version(),
        },
    }
    kept = [f for f in earlier.get("figures", []) if f.get("part") not in parts]
    runs = {part: r for part, r in earlier.get("runs", {}).items() if part not in parts}
    runs |= dict.fromkeys(parts, run)
    every = [*kept, *(asdict(f) for f in figures)]
    document = {
        "runs": dict(sorted(runs.items())),
        "all_met": all(f.get("met") is not False for f in every),
        "figures": every,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return document


def now() -> datetime:
    return datetime.now(UTC)
