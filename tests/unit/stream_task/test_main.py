"""`python -m stream_task` refuses to run without its environment, and says so in a JSON log line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_missing_environment_exits_2_with_a_json_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"STREAM_ID", "USER_ID", "RUN_ID", "TABLE_NAME"}}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers"), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "stream_task"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["message"] == "invalid environment"
    assert {tuple(e["loc"]) for e in line["errors"]} >= {
        ("stream_id",),
        ("user_id",),
        ("run_id",),
        ("table_name",),
    }


def test_a_run_loads_googles_client_libraries_only_when_it_has_youtube_broadcasts() -> None:
    """They are a third of the task's import time, and every start waits for its imports."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers"), str(ROOT)])}
    probe = (
        "import sys, stream_task.__main__, stream_task.runner; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'google', 'googleapiclient', 'httplib2'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]"
