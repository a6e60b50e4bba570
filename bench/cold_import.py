"""The API Lambda's cold import: `import api.handler` in a fresh interpreter, against a bare Powertools
handler module (an `APIGatewayHttpResolver` with one route) imported the same way; the two alternate round
by round, each in a new process with the API's environment, and the medians are compared. What a cold
start adds on top of the runtime's own start is mostly this import.

This machine's interpreter imports the dev venv's packages (byte-compiled) rather than the layer's arm64
wheels (which Lambda compiles at each cold start, /opt being read-only): both sides stand on the same
packages, so the ratio holds while the absolute times are lower than Lambda's."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.api_calls import ENVIRONMENT
from bench.harness import REPO_ROOT
from bench.report import Figure

HANDLER_MODULE = "api.handler"
BARE_MODULE = "bare_handler"
BARE_SOURCE = '''"""A bare Powertools HTTP API handler: the least an API Lambda of this shape imports."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.get("/api/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def lambda_handler(event, context):
    return app.resolve(event, context)
'''
TIMED_IMPORT = (
    "import time, importlib; started = time.perf_counter(); importlib.import_module({module!r}); "
    "print(time.perf_counter() - started)"
)


def import_seconds(module: str, env: dict[str, str]) -> float:
    """`module`'s import time in a new interpreter (the interpreter's own start left out)."""
    done = subprocess.run(
        [sys.executable, "-c", TIMED_IMPORT.format(module=module)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {done.stderr.strip()[-1000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(*, rounds: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="playout-bench-import-") as scratch:
        Path(scratch, f"{BARE_MODULE}.py").write_text(BARE_SOURCE)
        roots = [REPO_ROOT / "layers", REPO_ROOT / "functions", Path(scratch)]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
        env = {
            **inherited,
            **ENVIRONMENT,
            "PYTHONPATH": os.pathsep.join(str(root) for root in roots),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        ours: list[float] = []
        bare: list[float] = []
        for number in range(rounds + 1):
            order = [(ours, HANDLER_MODULE), (bare, BARE_MODULE)]
            for times, module in order if number % 2 == 0 else reversed(order):
                seconds = import_seconds(module, env)
                if number:  # the first round warms the page cache for both: not counted
                    times.append(seconds)
    ours_ms, bare_ms = statistics.median(ours) * 1000, statistics.median(bare) * 1000
    return [
        Figure(
            measure="Cold import of the API handler module",
            ours=ours_ms,
            baseline=bare_ms,
            unit="ms",
            ratio=ours_ms / bare_ms,
            ratio_of="handler/bare",
            target="none set (tracked)",
            met=None,
            ours_label="api.handler",
            baseline_label="bare Powertools",
            details={
                "rounds": rounds,
                "ours_ms": [round(t * 1000, 1) for t in ours],
                "baseline_ms": [round(t * 1000, 1) for t in bare],
                "python": sys.version.split()[0],
            },
        )
    ]
